"""A registry CSV (REDCap records or the flat CSV) -> validated records -> one transaction
Bundle for the ingestion pipeline.

Each row is checked by the marshmallow schema of its form, built from the dataset's
variables (types, choices, ranges, dates); every problem is reported as (row, field,
message) and nothing is built when there is one.
"""
from __future__ import annotations

import re
import uuid

import orjson
from dataclasses import dataclass

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

from .csvfiles import (REPEAT_INSTANCE, REPEAT_INSTRUMENT, columns, is_redcap_records,
                       read_rows)
from .dataset import Dataset, Variable, set_path
from .deid import PSEUDED, PSEUDONYM_SYSTEM
from .extract import RegistryRecord

NS = uuid.UUID("6f1c7a52-3b0e-4f7e-9a7e-2f3d1c0b9e11")
SUBJECT = {"BodyStructure": "patient"}


@dataclass(frozen=True)
class RowProblem:
    row: int          # the CSV line (the header is line 1)
    field: str
    message: str


class RegistryImportError(ValueError):
    def __init__(self, problems: list[RowProblem]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


# -- schemas ---------------------------------------------------------------------------------------
def _field(var: Variable):
    if var.type in ("choice",):
        return {var.name: fields.String(allow_none=True,
                                        validate=validate.OneOf([c.code for c in var.choices]))}
    if var.type in ("yesno", "presence"):
        return {var.name: fields.String(allow_none=True, validate=validate.OneOf(["0", "1"]))}
    if var.type == "checkbox":
        return {col: fields.String(allow_none=True, validate=validate.OneOf(["0", "1"]))
                for col in columns(var)}
    if var.type == "date":
        return {var.name: fields.Date(format="%Y-%m-%d", allow_none=True)}
    rng = validate.Range(min=var.min, max=var.max) if (var.min, var.max) != (None, None) \
        else None
    if var.type == "integer":
        return {var.name: fields.Integer(allow_none=True, strict=False, validate=rng)}
    if var.type == "decimal":
        return {var.name: fields.Float(allow_none=True, validate=rng)}
    return {var.name: fields.String(allow_none=True)}


class _Blank(Schema):
    @pre_load
    def blanks_are_missing(self, data, **kwargs):
        return {k: (None if isinstance(v, str) and not v.strip() else v.strip()
                    if isinstance(v, str) else v) for k, v in data.items()}


def form_schema(ds: Dataset, form: str) -> Schema:
    spec = {}
    for v in ds.form_variables(form):
        spec.update(_field(v))
    if form != "demographics" and not ds.forms[form].repeating:
        pass
    return _Blank.from_dict(spec, name=f"{form}Schema")(unknown=RAISE)


# -- reading records ---------------------------------------------------------------------------------
def _cast(var: Variable, value, text: str | None) -> object:
    if value is None:
        return None
    if var.type == "date":
        return value.isoformat()
    if var.type == "decimal":
        # the number as written ("199" stays an integer, "9.0" a decimal): the stored JSON
        # and the next export show it as the registry sent it
        try:
            return orjson.loads(text.strip())
        except (orjson.JSONDecodeError, AttributeError):
            return float(value)
    return value


def _load(ds: Dataset, schemas: dict, form: str, cells: dict, line: int, problems: list,
          prefix: str = "") -> dict:
    try:
        loaded = schemas[form].load(cells)
    except ValidationError as exc:
        for name, msgs in sorted(exc.messages.items()):
            for m in msgs if isinstance(msgs, list) else [str(msgs)]:
                problems.append(RowProblem(line, prefix + name, str(m)))
        return {}
    out: dict = {}
    for v in ds.form_variables(form):
        if v.type == "checkbox":
            chosen = {c.code for c in v.choices if loaded.get(f"{v.name}___{c.code}") == "1"}
            if chosen:
                out[v.name] = chosen
        elif loaded.get(v.name) is not None:
            out[v.name] = _cast(v, loaded[v.name], cells.get(v.name))
    return out


def parse_records(ds: Dataset, data: bytes | str) -> list[RegistryRecord]:
    header, rows = read_rows(data)
    if "record_id" not in header:
        raise RegistryImportError([RowProblem(1, "record_id", "the header has no record_id "
                                              "column")])
    schemas = {f: form_schema(ds, f) for f in ds.forms}
    problems: list[RowProblem] = []
    records: dict[str, RegistryRecord] = {}
    redcap = is_redcap_records(header)
    form_cols = {f: {c for v in ds.form_variables(f) for c in columns(v)} for f in ds.forms}
    known = {"record_id", REPEAT_INSTRUMENT, REPEAT_INSTANCE} | {f"{f}_complete" for f in ds.forms}
    known |= set().union(*form_cols.values())
    for i, row in enumerate(rows):
        line = i + 2
        rid = (row.get("record_id") or "").strip()
        if not rid:
            problems.append(RowProblem(line, "record_id", "is empty"))
            continue
        rec = records.setdefault(rid, RegistryRecord(rid, {"record_id": rid}))
        if redcap:
            unknown = [h for h in header if h not in known]
            if unknown and i == 0:
                problems.extend(RowProblem(1, h, "is not a variable of the dataset")
                                for h in unknown)
            form = (row.get(REPEAT_INSTRUMENT) or "").strip()
            if form:
                if form not in ds.forms or not ds.forms[form].repeating:
                    problems.append(RowProblem(line, REPEAT_INSTRUMENT,
                                               f"{form!r} is not a repeating form"))
                    continue
                n = (row.get(REPEAT_INSTANCE) or "").strip()
                if not n.isdigit() or int(n) < 1:
                    problems.append(RowProblem(line, REPEAT_INSTANCE, f"{n!r} is not 1, 2, ..."))
                    continue
                cells = {c: row.get(c, "") for c in form_cols[form] if c in row}
                inst = _load(ds, schemas, form, cells, line, problems)
                if inst:
                    rec.instances.setdefault(form, []).append(inst)
                continue
            for form in ds.forms.values():
                if form.repeating:
                    continue
                cells = {c: row.get(c, "") for c in form_cols[form.name] if c in row}
                rec.values.update(_load(ds, schemas, form.name, cells, line, problems))
            rec.values["record_id"] = rid
            continue
        # the flat CSV: repeating forms as <column>_<n>
        by_instance: dict[tuple[str, int], dict] = {}
        for col, cell in row.items():
            m = re.match(r"^(.+)_([0-9]+)$", col)
            form = next((f for f, cols in form_cols.items() if m and m.group(1) in cols
                         and ds.forms[f].repeating), None)
            if form is None:
                continue
            by_instance.setdefault((form, int(m.group(2))), {})[m.group(1)] = cell
        for form in ds.forms.values():
            if form.repeating:
                continue
            cells = {c: row.get(c, "") for c in form_cols[form.name] if c in row}
            rec.values.update(_load(ds, schemas, form.name, cells, line, problems))
        rec.values["record_id"] = rid
        for (form, n), cells in sorted(by_instance.items()):
            inst = _load(ds, schemas, form, cells, line, problems, prefix="")
            if inst:
                rec.instances.setdefault(form, []).append(inst)
        unknown = [h for h in header if h not in known and not re.match(r"^.+_[0-9]+$", h)]
        if unknown and i == 0:
            problems.extend(RowProblem(1, h, "is not a variable of the dataset") for h in unknown)
    if problems:
        raise RegistryImportError(problems)
    return list(records.values())


# -- records -> a transaction Bundle -------------------------------------------------------------------
def _coding(choice) -> dict:
    c = {"system": choice.system, "code": choice.fhir_code, "display": choice.label}
    return c


def _value_for(var: Variable, value):
    if var.type in ("choice", "checkbox"):
        choice = var.choice(value)
        if choice.system is None:
            return choice.fhir_code
        coding = _coding(choice)
        return {"coding": [coding]}
    return value


def _set(res: dict, var: Variable, value) -> None:
    target = var.path
    v = _value_for(var, value)
    # a CodeableConcept inside a list element (bodySite, locationQualifier) is the element
    set_path(res, target, v)
    for extra in var.also:
        set_path(res, extra, v)
    if var.system_path and var.system:
        set_path(res, var.system_path, var.system)


def to_bundle(ds: Dataset, records: list[RegistryRecord]) -> dict:
    entries = []

    def add(res: dict, key: str) -> str:
        url = f"urn:uuid:{uuid.uuid5(NS, key)}"
        entries.append({"fullUrl": url, "resource": res,
                        "request": {"method": "POST", "url": res["resourceType"]}})
        return url

    canon = ds.canon + "/StructureDefinition/"
    for rec in records:
        rid = rec.record_id
        patient = {"resourceType": "Patient", "meta": {
            "profile": [canon + "ssc-patient"], "security": [dict(PSEUDED)]},
            "identifier": [{"system": PSEUDONYM_SYSTEM, "value": rid}]}
        by_record: dict[str, list[tuple[Variable, object]]] = {}
        for name, value in rec.values.items():
            var = ds.variables[name]
            if name == "record_id":
                continue
            by_record.setdefault(var.record, []).append((var, value))
        for var, value in by_record.pop("patient", []):
            _set(patient, var, value)
        pat_url = add(patient, f"{rid}/Patient")
        for record_name, items in by_record.items():
            record = ds.records[record_name]
            res = _new(record, canon, pat_url)
            for var, value in items:
                if var.type == "presence":
                    res["code"] = {"coding": [{"system": record.code[0],
                                               "code": record.code[1]}]}
                    res["verificationStatus"] = {"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed" if value == "1" else "refuted"}]}
                else:
                    _set(res, var, value)
            add(res, f"{rid}/{record_name}")
        for form in ds.repeating:
            record = ds.records[form.record]
            for n, inst in enumerate(rec.instances.get(form.name, []), 1):
                res = _new(record, canon, pat_url)
                if record.identifier:
                    res["identifier"] = [{"system": record.identifier, "value": f"{rid}-{n}"}]
                linked = []
                for var in ds.form_variables(form.name):
                    if var.name not in inst:
                        continue
                    linked_record = ds.records[var.record] if var.record != form.record else None
                    if linked_record is not None and linked_record.link:
                        linked.append((linked_record, var, inst[var.name]))
                        continue
                    _set(res, var, inst[var.name])
                url = add(res, f"{rid}/{form.name}/{n}")
                for linked_record, var, codes in linked:
                    for code in sorted(codes):
                        obs = _new(linked_record, canon, pat_url)
                        for dst, src in linked_record.copy.items():
                            if src in res:
                                obs[dst] = res[src]
                        obs[linked_record.link] = [{"reference": url}]
                        _set(obs, var, code)
                        add(obs, f"{rid}/{form.name}/{n}/{var.name}/{code}")
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _new(record, canon: str, patient_url: str) -> dict:
    import copy
    res = {"resourceType": record.resource}
    if record.profile:
        res["meta"] = {"profile": [canon + record.profile]}
    res.update(copy.deepcopy(record.template))
    if record.code is not None and "code" not in res:
        res["code"] = {"coding": [{"system": record.code[0], "code": record.code[1]}]}
    res[SUBJECT.get(record.resource, "subject")] = {"reference": patient_url}
    return res
