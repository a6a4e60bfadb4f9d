"""Stored resources -> registry records (one per patient), read one resource at a time so a
10,000-patient export holds the extracted values, never the resources.

    ex = Extractor(dataset, deid)
    for res in resources: ex.add(res)          # any order, any types
    records = ex.records()                     # [RegistryRecord], by record id

A record holds the non-repeating variables' values and, per repeating form, its instances
(sorted by their values, so the order does not depend on server ids). Values are the strings
the CSV carries: choice codes, "1"/"0", ISO dates (shifted or ages), numbers as stored;
checkbox variables hold a set of choice codes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .dataset import Dataset, Variable, get_all, get_path
from .deid import Deidentifier, age_at, full_date, shifted

REFUTED = {"refuted", "entered-in-error"}


def patient_ref(res: dict) -> str | None:
    ref = (res.get("subject") or res.get("patient") or {}).get("reference")
    return ref if ref and ref.startswith("Patient/") else None


@dataclass
class RegistryRecord:
    record_id: str
    values: dict[str, object] = field(default_factory=dict)
    instances: dict[str, list[dict]] = field(default_factory=dict)


@dataclass
class _Patient:
    record_id: str
    days: int
    birth: object
    values: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)        # var -> (rank, fhir value) before formatting
    instances: dict = field(default_factory=dict)  # form -> {resource ref: {var: value}}


class Extractor:
    def __init__(self, dataset: Dataset, deid: Deidentifier, patients: set[str] | None = None):
        self.ds = dataset
        self.deid = deid
        self.only = patients
        self.patients: dict[str, _Patient] = {}
        self.pending: list[dict] = []          # resources seen before their Patient
        self.links: dict[str, dict[str, set]] = {}  # lesion ref -> var -> codes
        self.skipped: list[str] = []           # values outside the choices (not exported)
        self._by_record: dict[str, list[Variable]] = {}
        self._forms_by_record = {f.record: f for f in dataset.forms.values() if f.repeating}
        for v in dataset.variables.values():
            if v.record:
                self._by_record.setdefault(v.record, []).append(v)

    # -- feeding --------------------------------------------------------------------------------
    def add(self, res: dict) -> None:
        if res.get("resourceType") == "Patient":
            self._add_patient(res)
            return
        ref = patient_ref(res)
        if ref is None:
            return
        pat = self.patients.get(ref)
        if pat is None:
            if self.only is None or ref.split("/", 1)[1] in self.only:
                self.pending.append(res)  # its Patient comes later in the stream
            return
        self._add_to(pat, res)

    def _add_patient(self, res: dict) -> None:
        if self.only is not None and res.get("id") not in self.only:
            return
        rid, done = self.deid.pseudonym(res)
        days = 0 if done else self.deid.offset_days(rid)
        birth = full_date(res.get("birthDate")) if self.deid.mode == "age" else None
        pat = _Patient(rid, days, birth)
        self.patients[f"Patient/{res.get('id')}"] = pat
        self._apply(pat, "patient", res, None)

    def _add_to(self, pat: _Patient, res: dict) -> None:
        for name, record in self.ds.records.items():
            if name == "patient" or not record.matches(res, self.ds.canon):
                continue
            if record.link:
                for target in get_all(res, record.link):
                    ref = target.get("reference") if isinstance(target, dict) else None
                    if ref:
                        self._link(ref, name, res)
                continue
            form = self._forms_by_record.get(name)
            key = f"{res['resourceType']}/{res.get('id')}"
            self._apply(pat, name, res, (form.name, key) if form else None)

    def _link(self, target: str, record: str, res: dict) -> None:
        for var in self._by_record.get(record, []):
            codes = self.links.setdefault(target, {}).setdefault(var.name, set())
            for value in get_all(res, var.path):
                c = var.choice_for(value)
                if c:
                    codes.add(c.code)

    def _apply(self, pat: _Patient, record: str, res: dict, instance) -> None:
        out = pat.values
        if instance is not None:
            out = pat.instances.setdefault(instance[0], {}).setdefault(instance[1], {})
        for var in self._by_record.get(record, []):
            if var.type == "checkbox" and self.ds.records[var.record].link:
                continue  # filled from the linked resources at the end
            value = self._value(pat, var, res)
            if value in (None, ""):
                continue
            if var.type == "presence" and out.get(var.name) == "1":
                continue  # a confirmed finding wins over a refuted one
            out[var.name] = value

    def _value(self, pat: _Patient, var: Variable, res: dict):
        if not self.deid.keeps(var):
            return None
        if var.type == "presence":
            status = {c.get("code") for c in (res.get("verificationStatus") or {})
                      .get("coding", [])}
            return "0" if status & REFUTED else "1"
        raw = get_path(res, var.path)
        if raw is None:
            return None
        if var.type in ("choice", "checkbox"):
            if isinstance(raw, list):
                raw = raw[0] if raw else None
            c = var.choice_for(raw)
            if c is None:
                self.skipped.append(f"{var.name}: {raw!r} is not one of its choices")
                return None
            return c.code if var.type == "choice" else {c.code}
        if var.type == "date":
            if self.deid.mode == "age":
                return age_at(str(raw), pat.birth) if var.path != "birthDate" else None
            return shifted(str(raw), pat.days)
        if var.type in ("integer", "decimal"):
            return repr(raw) if isinstance(raw, float) else str(raw)
        return str(raw)

    # -- results --------------------------------------------------------------------------------
    def records(self) -> list[RegistryRecord]:
        pending, self.pending = self.pending, []
        for res in pending:
            pat = self.patients.get(patient_ref(res))
            if pat is not None:
                self._add_to(pat, res)
        out = []
        for pat in self.patients.values():
            rec = RegistryRecord(pat.record_id, dict(pat.values))
            rec.values["record_id"] = pat.record_id
            for form, items in pat.instances.items():
                rows = []
                for ref, values in items.items():
                    for var, codes in self.links.get(ref, {}).items():
                        if codes:
                            values[var] = set(codes)
                    if values:
                        rows.append(values)
                rows.sort(key=lambda r: self._sort_key(form, r))
                if rows:
                    rec.instances[form] = rows
            out.append(rec)
        out.sort(key=lambda r: r.record_id)
        return out

    def _sort_key(self, form: str, row: dict) -> tuple:
        names = [v.name for v in self.ds.form_variables(form)]
        dates = [row.get(n, "") for n in names if self.ds.variables[n].type == "date"]
        rest = [",".join(sorted(x)) if isinstance(x, set) else str(x)
                for x in (row.get(n, "") for n in names)]
        return tuple(dates + rest)
