"""The registry's CSV files: the flat de-identified CSV (one row per patient), the REDCap data
dictionary (REDCap's 18 columns) and the REDCap records import CSV; and reading any of them
back (UTF-8 with or without a BOM, Windows-1252 as a fallback, quoted newlines and doubled
quotes: the csv module; curly quotes are ordinary characters).
"""
from __future__ import annotations

import csv
import io
import re
from typing import Iterable, Iterator

from .dataset import Dataset, Variable
from .extract import RegistryRecord

DICTIONARY_COLUMNS = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation")
# the same columns as REDCap's API (content=metadata) names them
METADATA_COLUMNS = (
    "field_name", "form_name", "section_header", "field_type", "field_label",
    "select_choices_or_calculations", "field_note", "text_validation_type_or_show_slider_number",
    "text_validation_min", "text_validation_max", "identifier", "branching_logic",
    "required_field", "custom_alignment", "question_number", "matrix_group_name",
    "matrix_ranking", "field_annotation")
REPEAT_INSTRUMENT, REPEAT_INSTANCE = "redcap_repeat_instrument", "redcap_repeat_instance"


def _csv(rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """CSV text a line at a time (REDCap takes CRLF, quotes only where needed)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(row)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()


def columns(var: Variable) -> list[str]:
    if var.type == "checkbox":
        return [f"{var.name}___{c.code}" for c in var.choices]
    return [var.name]


def _cells(var: Variable, value) -> list[str]:
    if var.type == "checkbox":
        chosen = value or set()
        return ["1" if c.code in chosen else "0" for c in var.choices] if chosen else \
            [""] * len(var.choices)
    return ["" if value is None else str(value)]


# -- data dictionary ------------------------------------------------------------------------------
def dictionary(ds: Dataset) -> Iterator[str]:
    def rows():
        yield DICTIONARY_COLUMNS
        for v in ds.variables.values():
            choices = " | ".join(f"{c.code}, {c.label}" for c in v.choices) \
                if v.redcap in ("radio", "dropdown", "checkbox") else ""
            rec = ds.records.get(v.record) if v.record else None
            annotation = (f"FHIR {rec.resource}" + (f" ({rec.profile})" if rec.profile else "")
                          + (f": {v.path}" if v.path else "")) if rec else "keyed-hash pseudonym"
            yield (v.name, v.form, "", v.redcap, v.label, choices, v.unit or "",
                   v.validation or "", "" if v.min is None else str(v.min),
                   "" if v.max is None else str(v.max), "", "", "y" if v.name == "record_id"
                   else "", "", "", "", "", annotation)
    return _csv(rows())


# -- REDCap records ---------------------------------------------------------------------------------
def records_header(ds: Dataset) -> list[str]:
    head = ["record_id", REPEAT_INSTRUMENT, REPEAT_INSTANCE]
    for form in ds.forms.values():
        for v in ds.form_variables(form.name):
            if v.name != "record_id":
                head.extend(columns(v))
        head.append(f"{form.name}_complete")
    return head


def redcap_records(ds: Dataset, records: Iterable[RegistryRecord]) -> Iterator[str]:
    head = records_header(ds)
    index = {name: i for i, name in enumerate(head)}

    def put(row, var, value):
        for col, cell in zip(columns(var), _cells(var, value)):
            row[index[col]] = cell

    def rows():
        yield head
        for rec in records:
            base = [""] * len(head)
            base[0] = rec.record_id
            for form in ds.forms.values():
                if form.repeating:
                    continue
                filled = False
                for v in ds.form_variables(form.name):
                    if v.name != "record_id" and rec.values.get(v.name) not in (None, ""):
                        put(base, v, rec.values[v.name])
                        filled = True
                base[index[f"{form.name}_complete"]] = "2" if filled or \
                    form.name == "demographics" else "0"
            yield base
            for form in ds.repeating:
                for n, inst in enumerate(rec.instances.get(form.name, []), 1):
                    row = [""] * len(head)
                    row[0], row[1], row[2] = rec.record_id, form.name, str(n)
                    for v in ds.form_variables(form.name):
                        put(row, v, inst.get(v.name))
                    row[index[f"{form.name}_complete"]] = "2"
                    yield row
    return _csv(rows())


# -- the flat CSV -------------------------------------------------------------------------------------
def flat_header(ds: Dataset, counts: dict[str, int]) -> list[str]:
    head = []
    for form in ds.forms.values():
        vars_ = ds.form_variables(form.name)
        if not form.repeating:
            for v in vars_:
                head.extend(columns(v))
            continue
        for n in range(1, counts.get(form.name, 0) + 1):
            for v in vars_:
                head.extend(f"{c}_{n}" for c in columns(v))
    return head


def flat(ds: Dataset, records: Iterable[RegistryRecord],
         counts: dict[str, int] | None = None) -> Iterator[str]:
    """`counts`: the most instances of each repeating form over the records (the header's
    `<variable>_<n>` columns); computed from `records` (then a list) when not given."""
    if counts is None:
        records = list(records)
        counts = {f.name: max((len(r.instances.get(f.name, [])) for r in records), default=0)
                  for f in ds.repeating}

    def rows():
        yield flat_header(ds, counts)
        for rec in records:
            row = []
            for form in ds.forms.values():
                vars_ = ds.form_variables(form.name)
                if not form.repeating:
                    for v in vars_:
                        row.extend(_cells(v, rec.values.get(v.name)))
                    continue
                insts = rec.instances.get(form.name, [])
                for n in range(counts[form.name]):
                    inst = insts[n] if n < len(insts) else {}
                    for v in vars_:
                        row.extend(_cells(v, inst.get(v.name)))
            yield row
    return _csv(rows())


# -- reading -----------------------------------------------------------------------------------------
def decode(data: bytes) -> str:
    """UTF-8 (a BOM dropped), else Windows-1252 (what Excel on Windows saves)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace").lstrip("\ufeff")


def read_rows(data: bytes | str) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows as dicts); a row's line number is its index + 2."""
    text = decode(data) if isinstance(data, bytes) else data.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], []
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        rows.append(dict(zip(header, cells)))
    return header, rows


def read_dictionary(data: bytes | str) -> list[dict[str, str]]:
    """A REDCap data dictionary (UI or API column names) as rows keyed by the API names."""
    header, rows = read_rows(data)
    if tuple(header) == DICTIONARY_COLUMNS:
        names = dict(zip(DICTIONARY_COLUMNS, METADATA_COLUMNS))
        return [{names[k]: v for k, v in r.items() if k in names} for r in rows]
    if tuple(header) == METADATA_COLUMNS:
        return rows
    raise ValueError(f"not a REDCap data dictionary: {len(header)} columns, expected the 18 of "
                     "REDCap's Data Dictionary")


def parse_choices(text: str) -> list[tuple[str, str]]:
    """'1, one | 2, two' -> [('1', 'one'), ('2', 'two')]"""
    out = []
    for part in (text or "").split("|"):
        code, _, label = part.strip().partition(",")
        if code.strip():
            out.append((code.strip(), label.strip()))
    return out


_FLAT = re.compile(r"^(?P<col>.+?)_(?P<n>[0-9]+)$")


def is_redcap_records(header: list[str]) -> bool:
    return REPEAT_INSTRUMENT in header or any(h.endswith("_complete") for h in header)
