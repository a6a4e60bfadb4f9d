"""The registry dataset, loaded from its YAML file (registry/calcinosis.yaml): forms, records,
variables, choices expanded from the guide's ValueSets, and the reversible paths.

    ds = load_dataset(Path("registry/calcinosis.yaml"), guide_dir)
    ds.variables["lesion_kind"].choices[0]      # Choice(code, label, system, fhir_code)
    get_path(resource, var.path)  /  set_path(resource, var.path, value)

A path is a FHIRPath subset: member names and extension('url'), e.g.
"extension('http://...spinal-level-range').extension('start').valueCodeableConcept". It is
walked by hand, not by fhirpathpy, because an import needs the inverse (write a value where
the export read it), which FHIRPath does not define.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

TYPES = {"text", "date", "integer", "decimal", "choice", "yesno", "presence", "checkbox"}
REDCAP_TYPES = {"text", "notes", "radio", "dropdown", "checkbox", "yesno", "calc", "truefalse",
                "descriptive", "slider", "file"}
_SEGMENT = re.compile(r"^(?:extension\('([^']+)'\)|([A-Za-z][A-Za-z0-9]*))$")
_CODE = re.compile(r"[^a-z0-9]+")


class DatasetError(ValueError):
    """The dataset file is wrong: names the variable and what to fix."""


@dataclass(frozen=True)
class Choice:
    code: str            # the REDCap raw value
    label: str
    system: str | None   # None: a plain code (Patient.gender)
    fhir_code: str


@dataclass(frozen=True)
class Record:
    name: str
    resource: str
    profile: str | None = None
    code: tuple[str, str] | None = None
    template: dict = field(default_factory=dict)
    link: str | None = None          # reference element pointing at the form's record
    copy: dict = field(default_factory=dict)
    identifier: str | None = None

    def matches(self, res: dict, canon: str) -> bool:
        if res.get("resourceType") != self.resource:
            return False
        if self.profile and f"{canon}/StructureDefinition/{self.profile}" not in (
                res.get("meta") or {}).get("profile", []):
            return False
        if self.code is not None:
            codes = {(c.get("system"), c.get("code"))
                     for c in (res.get("code") or {}).get("coding", [])}
            if self.code not in codes:
                return False
        return True


@dataclass(frozen=True)
class Variable:
    name: str
    form: str
    label: str
    type: str
    redcap: str
    record: str | None = None
    path: str | None = None
    choices: tuple[Choice, ...] = ()
    validation: str | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    free_text: bool = False
    source: str | None = None        # "pseudonym"
    also: tuple[str, ...] = ()       # further paths written with the same value
    system_path: str | None = None
    system: str | None = None

    def choice_for(self, value) -> Choice | None:
        """The choice of a FHIR value (a CodeableConcept, Coding or code)."""
        if isinstance(value, str):
            return next((c for c in self.choices if c.system is None and c.fhir_code == value),
                        None)
        codings = value.get("coding", [value]) if isinstance(value, dict) else []
        for coding in codings:
            for c in self.choices:
                if c.system == coding.get("system") and c.fhir_code == coding.get("code"):
                    return c
        return None

    def choice(self, code: str) -> Choice | None:
        return next((c for c in self.choices if c.code == code), None)


@dataclass(frozen=True)
class Form:
    name: str
    label: str
    repeating: bool = False
    record: str | None = None


@dataclass
class Dataset:
    name: str
    title: str
    canon: str
    forms: dict[str, Form]
    records: dict[str, Record]
    variables: dict[str, Variable]
    deid: dict
    source: Path

    def form_variables(self, form: str) -> list[Variable]:
        return [v for v in self.variables.values() if v.form == form]

    @property
    def repeating(self) -> list[Form]:
        return [f for f in self.forms.values() if f.repeating]


# -- paths ----------------------------------------------------------------------------------------
def parse_path(path: str) -> list[tuple[str, str]]:
    """'a.extension('u').b' -> [('member','a'), ('ext','u'), ('member','b')]"""
    parts, depth, cur = [], 0, ""
    for ch in path:  # split on dots outside extension('...')
        if ch == "'" :
            depth ^= 1
        if ch == "." and not depth:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        m = _SEGMENT.match(p)
        if not m:
            raise DatasetError(f"path {path!r}: {p!r} is not a member name or extension('url')")
        out.append(("ext", m.group(1)) if m.group(1) else ("member", m.group(2)))
    return out


def get_all(res, path: str) -> list:
    """Every value at `path` (lists are walked through)."""
    items = [res]
    for kind, name in parse_path(path):
        nxt = []
        for it in items:
            if not isinstance(it, dict):
                continue
            if kind == "ext":
                nxt.extend(e for e in it.get("extension", []) if e.get("url") == name)
            else:
                v = it.get(name)
                if isinstance(v, list):
                    nxt.extend(v)
                elif v is not None:
                    nxt.append(v)
        items = nxt
    return items


def get_path(res, path: str):
    values = get_all(res, path)
    return values[0] if values else None


# elements that are lists in FHIR R4 among those the dataset writes
_LISTS = {"extension", "category", "coding", "identifier", "locationQualifier", "focus", "note",
          "reasonReference", "dosage", "interpretation"}


def set_path(res: dict, path: str, value) -> None:
    steps = parse_path(path)
    node = res
    for i, (kind, name) in enumerate(steps):
        last = i == len(steps) - 1
        if kind == "ext":
            exts = node.setdefault("extension", [])
            found = next((e for e in exts if e.get("url") == name), None)
            if found is None:
                found = {"url": name}
                exts.append(found)
            node = found
            continue
        if last:
            if name in _LISTS:
                node.setdefault(name, []).append(value)
            elif isinstance(value, dict) and isinstance(node.get(name), dict):
                node[name].update(value)  # a sibling variable wrote inside it first
            else:
                node[name] = value
            return
        if name in _LISTS:
            lst = node.setdefault(name, [])
            if not lst:
                lst.append({})
            node = lst[0]
        else:
            node = node.setdefault(name, {})


# -- loading --------------------------------------------------------------------------------------
def _valueset(guide_dir: Path, name: str) -> list[Choice]:
    path = guide_dir / f"ValueSet-{name}.json"
    if not path.exists():
        raise DatasetError(f"choices: no ValueSet {name!r} in the guide ({path.name})")
    vs = orjson.loads(path.read_bytes())
    out = []
    for inc in vs.get("compose", {}).get("include", []):
        if not inc.get("concept"):
            raise DatasetError(f"ValueSet {name!r} includes without listing concepts: list the "
                               "choices in the dataset instead")
        for c in inc["concept"]:
            out.append(Choice(_CODE.sub("_", c["code"].lower()).strip("_") or c["code"],
                              c.get("display") or c["code"], inc["system"], c["code"]))
    return out


def _choices(raw, guide_dir: Path, var: str) -> tuple[Choice, ...]:
    if raw is None:
        return ()
    if isinstance(raw, dict):
        items = _valueset(guide_dir, raw["valueset"])
    else:
        items = []
        for row in raw:
            code, label = str(row[0]), str(row[1])
            system = row[2] if len(row) > 2 else None
            fhir = str(row[3]) if len(row) > 3 and row[3] is not None else code
            items.append(Choice(code, label, system, fhir))
    codes = [c.code for c in items]
    if len(set(codes)) != len(codes):
        raise DatasetError(f"{var}: choice codes are not unique: {codes}")
    return tuple(items)


def load_dataset(path: Path, guide_dir: Path, canon: str = "http://fhirsvc.org/fhir/calcinosis"
                 ) -> Dataset:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    deid_path = Path(path).parent / raw.get("deidentification", "deid-profile.yaml")
    deid = yaml.safe_load(deid_path.read_text(encoding="utf-8"))
    forms = {f["name"]: Form(f["name"], f.get("label", f["name"]), bool(f.get("repeating")),
                             f.get("record")) for f in raw["forms"]}
    records = {}
    for name, r in raw["records"].items():
        m = r["match"]
        code = tuple(m["code"].split("|", 1)) if m.get("code") else None
        records[name] = Record(name, m["resource"], m.get("profile"), code,
                               r.get("template") or {}, r.get("link"), r.get("copy") or {},
                               r.get("identifier"))
    never = set(deid.get("never", []))
    variables: dict[str, Variable] = {}
    for v in raw["variables"]:
        name = v["name"]
        if name in variables:
            raise DatasetError(f"variable {name!r} is defined twice")
        if v["form"] not in forms:
            raise DatasetError(f"{name}: unknown form {v['form']!r}")
        if v["type"] not in TYPES or v["redcap"] not in REDCAP_TYPES:
            raise DatasetError(f"{name}: type {v['type']!r} / redcap {v['redcap']!r} unknown")
        form = forms[v["form"]]
        record = v.get("record") or form.record
        if v.get("source") != "pseudonym" and record not in records:
            raise DatasetError(f"{name}: needs a record (its own or its form's)")
        for p in [v.get("path")] + list(v.get("also") or []):
            if p:
                head = parse_path(p)[0][1]
                if head in never:
                    raise DatasetError(f"{name}: reads {head}, which the de-identification "
                                       "profile never exports")
        variables[name] = Variable(
            name, v["form"], v.get("label", name), v["type"], v["redcap"], record,
            v.get("path"), _choices(v.get("choices"), guide_dir, name), v.get("validation"),
            v.get("min"), v.get("max"), v.get("unit"), bool(v.get("free_text")),
            v.get("source"), tuple(v.get("also") or ()), v.get("system_path"), v.get("system"))
    if "record_id" not in variables or next(iter(variables)) != "record_id":
        raise DatasetError("the first variable must be record_id (REDCap's record key)")
    return Dataset(raw["registry"], raw.get("title", raw["registry"]), canon, forms, records,
                   variables, deid, Path(path))
