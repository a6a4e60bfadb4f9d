"""The validate page's work: an input format turns the pasted or uploaded text into issues
(from `services.validate`, the same validator as every write) and a listing of the input with
each issue's lines marked. Nothing is stored.

Input formats plug in here (FORMATS): FHIR JSON, FHIR XML (fhirsvc/xml, as the API reads
it) and HL7 v2 (services.hl7v2.preview, as $convert-hl7v2 converts); a format whose `check`
is None is listed, disabled, as not yet available. A `check(services, ctx, text,
profiles)` returns a `Checked` whose listing is either `printed` (a parsed resource
pretty-printed with paths, see pretty.py: an XML format that has the resource as JSON can
return `check_resource(...)`) or `raw` (the text as it came, lines numbered, e.g. an HL7 v2
message, one segment a line: put each issue's index in `raw_marks[line index]`). A format
whose input becomes another resource (HL7 v2 -> a transaction Bundle) puts that resource's
own check in `then` (shown below the input, its issues listed beside it).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from ..outcomes import SEVERITY_ORDER, Issue, OperationOutcomeError, error, sort_issues
from ..wire import JsonSyntaxError, decode_json, is_type
from .pretty import Line, Printed, pretty


FOLD_ABOVE = 3000   # longer listings show only the lines around issues
MARK_WHOLE = 8      # an issue on an element up to this many lines marks all of them


@dataclass(frozen=True)
class _RawLine:
    number: int
    text: str
    issues: list


@dataclass(frozen=True)
class Gap:
    """Lines `first`..`last` (numbers, inclusive) left out of the listing: no issue there."""
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


@dataclass
class Checked:
    issues: list[Issue]
    resource_type: str = ""
    printed: Printed | None = None
    raw: list[str] | None = None
    raw_marks: dict[int, list[int]] = field(default_factory=dict)  # line index -> issue indexes
    unplaced: list[int] = field(default_factory=list)              # issues with no line
    then: "Checked | None" = None     # what the input became, checked (HL7 v2: the Bundle)
    then_label: str = ""
    language: str = "json"            # of the listing: json, xml, hl7v2

    @property
    def all_issues(self) -> list[Issue]:
        return self.issues + (self.then.all_issues if self.then is not None else [])

    def _firsts(self) -> dict[int, int]:
        """issue index -> the number of the first line it is marked on (computed once)."""
        if "_first" not in self.__dict__:
            marks = ([(line.number, line.issues) for line in self.printed.lines]
                     if self.printed is not None else
                     [(i + 1, self.raw_marks.get(i, [])) for i in range(len(self.raw or []))])
            first: dict[int, int] = {}
            for number, marked in marks:
                for n in marked:
                    first.setdefault(n, number)
            starts: dict[int, list[int]] = {}
            for n, number in sorted(first.items()):
                starts.setdefault(number, []).append(n)
            self.__dict__["_first"], self.__dict__["_starts"] = first, starts
        return self.__dict__["_first"]

    def first_line(self, n: int) -> int | None:
        """The number of the first line issue `n` is marked on."""
        return self._firsts().get(n)

    def starts(self, number: int) -> list[int]:
        """The issues whose marking starts at this line (the line's flag links the first)."""
        self._firsts()
        return self.__dict__["_starts"].get(number, [])

    def listing(self, limit: int = FOLD_ABOVE, context: int = 3) -> list:
        """The lines to show: all of them up to `limit`; past that the first lines and those
        within `context` of a marked line, the runs between them folded into `Gap`s (a
        page of 80,000 lines helps nobody, and weighs 17 MB)."""
        lines = self.printed.lines if self.printed is not None else [
            _RawLine(i + 1, text, self.raw_marks.get(i, [])) for i, text in enumerate(self.raw or [])]
        if len(lines) <= limit:
            return lines
        keep = set(range(min(len(lines), 20)))
        for i, line in enumerate(lines):
            if line.issues:
                keep.update(range(max(0, i - context), min(len(lines), i + context + 1)))
        out: list = []
        gap_start = None
        for i, line in enumerate(lines):
            if i in keep:
                if gap_start is not None:
                    out.append(Gap(gap_start + 1, i))
                    gap_start = None
                out.append(line)
            elif gap_start is None:
                gap_start = i
        if gap_start is not None:
            out.append(Gap(gap_start + 1, len(lines)))
        return out

    def worst(self, marked: list[int]) -> str:
        issues = self.all_issues
        return min((issues[n].severity for n in marked if n < len(issues)),
                   key=lambda s: SEVERITY_ORDER.get(s, 9), default="information")


@dataclass(frozen=True)
class InputFormat:
    key: str
    label: str
    # (services, ctx, text, profiles: chosen services.guide ProfileInfo) -> Checked; None: not yet
    check: Callable | None
    sniff: Callable[[str], bool] = lambda text: False
    note: str = ""               # shown when not available


def check_json(services, ctx, text: str, profiles) -> Checked:
    try:
        body = decode_json(text)
    except JsonSyntaxError as exc:
        issue = error("structure", f"The input is not valid JSON: {exc.msg} (line {exc.line}, "
                      f"column {exc.column})", diagnostics=f"line {exc.line}, column {exc.column}")
        checked = Checked([issue], raw=text.splitlines() or [""])
        checked.raw_marks[min(exc.line, len(checked.raw)) - 1] = [0]
        return checked
    return check_resource(services, ctx, body, profiles)


def check_resource(services, ctx, body, profiles, printer=None, language="json") -> Checked:
    """A parsed resource (JSON objects) checked and pretty-printed with its issues marked:
    the JSON path, and the one an XML format reuses once it has the resource as JSON
    (`printer(body, root) -> Printed` prints it in the input's own syntax)."""
    printer = printer or pretty
    if not isinstance(body, dict) or not is_type(body.get("resourceType")):
        what = (f"resourceType {body.get('resourceType')!r} is not an R4 resource type"
                if isinstance(body, dict) and "resourceType" in body
                else "it has no resourceType" if isinstance(body, dict)
                else "it is not a JSON object")
        issues = [error("invalid", f"The input is not a FHIR resource: {what}",
                        "resourceType" if isinstance(body, dict) else "")]
        return place(Checked(issues, printed=printer(body, "$"), language=language), "$")
    rtype = body["resourceType"]
    try:
        issues = services.validate.validate(ctx, rtype, None, with_profiles(body, profiles))
    except OperationOutcomeError as exc:   # e.g. a Parameters body the service refuses
        issues = exc.issues
    return place(Checked(sort_issues(issues), rtype, printed=printer(body, rtype),
                         language=language), rtype)


def with_profiles(body: dict, profiles) -> dict:
    """The chosen profiles (services.guide ProfileInfo: url and type): a resource is checked
    against them ($validate's Parameters with `profile`); in a Bundle, each entry of a type a
    chosen profile constrains claims it (meta.profile, on a copy) and is checked against it."""
    if not profiles:
        return body
    if body.get("resourceType") != "Bundle":
        return {"resourceType": "Parameters",
                "parameter": [{"name": "resource", "resource": body}] +
                             [{"name": "profile", "valueUri": p.url} for p in profiles]}
    copy = json.loads(json.dumps(body))
    for entry in copy.get("entry") or []:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(res, dict):
            wanted = [p.url for p in profiles if p.type == res.get("resourceType")]
            if wanted:
                meta = res.setdefault("meta", {})
                meta["profile"] = list(dict.fromkeys((meta.get("profile") or []) + wanted))
    return copy


_MISSING = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*(?:\[x\])?)+): "
                      r"minimum required = (\d+), but only found 0")


def _order(def_path: str) -> dict[str, int] | None:
    """JSON name -> position of the children of a definition path (R4 core order), from the
    XML model's view of the core StructureDefinitions."""
    from ..definitions.registry import default_registry
    from ..xml.model import Model
    state = default_registry().state
    model = Model.of(state)
    place = model.type_place(def_path.split(".", 1)[0])
    if place is None:
        return None
    ordered, _ = model.children(place[0], def_path)
    if not ordered:
        return None
    out: dict[str, int] = {"resourceType": -1}
    for i, child in enumerate(ordered):
        for name in (child.name, *child.names):
            out.setdefault(name, i)
    return out


def _placeholder(checked: Checked, issue: Issue, root: str):
    """(line index to insert before, its R4 position, the placeholder Line) for a missing
    required element whose parent is printed; None otherwise (the issue stays on its
    parent's lines)."""
    m = _MISSING.match(issue.message)
    if not m or not issue.expression or checked.printed is None:
        return None
    printed = checked.printed
    parent = issue.expression[0] if root != "$" else f"$.{issue.expression[0]}"
    span = printed.spans.get(parent)
    if span is None:
        return None
    def_path = m.group(1)
    name = def_path.rsplit(".", 1)[1].removesuffix("[x]")
    try:
        order = _order(def_path.rsplit(".", 1)[0])
    except Exception:   # definitions unavailable: keep the parent's line
        order = None
    if order is None or name not in order:
        return None
    prefix = parent + "."
    present = sorted((printed.spans[p][0], p[len(prefix):]) for p in printed.spans
                     if p.startswith(prefix) and "." not in p[len(prefix):]
                     and "[" not in p[len(prefix):] and not p[len(prefix):].startswith("_"))
    first, last = span
    at = last if last > first else first + 1   # before the closing line (or after `{}`)
    for line_index, key in present:
        if order.get(key, 10 ** 6) > order[name]:
            at = line_index
            break
    parent_text = printed.lines[first].text
    indent = parent_text[:len(parent_text) - len(parent_text.lstrip())] + "  "
    need = f"at least {m.group(2)}"
    if checked.language == "xml":
        text = f"{indent}<{name} …/>   ← missing: required, {need}"
    else:
        text = f'{indent}"{name}": …   ← missing: required, {need}'
    return at, order[name], Line(0, text, f"{parent}.{name}" if root != "$" else f"{parent[2:]}.{name}",
                    placeholder=True)


def place(checked: Checked, root: str) -> Checked:
    """Attach each issue to the printed lines of its first locatable expression; a missing
    required element gets a placeholder line where it would go (R4 element order), marked
    with its issue, instead of its parent's line."""
    inserts: list[tuple[int, int, Line]] = []
    holes: dict[str, Line] = {}      # one placeholder per missing element (core + profile)
    for n, issue in enumerate(checked.issues):
        hole = _placeholder(checked, issue, root) if issue.code == "required" else None
        if hole is not None:
            if hole[2].path in holes:
                holes[hole[2].path].issues.append(n)
                continue
            hole[2].issues.append(n)
            holes[hole[2].path] = hole[2]
            inserts.append(hole)
            continue
        span = None
        for expr in issue.expression:
            span = checked.printed.locate(expr if root != "$" else f"$.{expr}")
            if span:
                break
        if span is None and not issue.expression:
            span = (0, 0)  # about the whole input: its first line
        if span is None:
            checked.unplaced.append(n)
            continue
        if span[0] == 0 or span[1] - span[0] >= MARK_WHOLE:
            # about a whole resource or a large element: its first line, not every line
            span = (span[0], span[0])
        for i in range(span[0], span[1] + 1):
            checked.printed.lines[i].issues.append(n)
    if inserts:
        lines = checked.printed.lines
        by_index: dict[int, list[Line]] = {}
        for at, _, line in sorted(inserts, key=lambda t: (t[0], t[1])):  # R4 order at a spot
            by_index.setdefault(at, []).append(line)
        out: list[Line] = []
        for i, line in enumerate(lines + [None]):
            out.extend(by_index.get(i, ()))
            if line is not None:
                out.append(line)
        for number, line in enumerate(out, 1):
            line.number = number
        checked.printed.lines[:] = out
    return checked


def check_xml(services, ctx, text: str, profiles) -> Checked:
    """FHIR XML read as the API reads a request body (fhirsvc.xml: hardened, into the JSON
    form, decimals exact), validated as JSON, listed as the XML re-indented, each issue at
    the lines of its element."""
    from ..xml import XmlFormatError, xml_to_json
    from .pretty_xml import pretty_xml
    try:
        body = decode_json(xml_to_json(text).decode("utf-8"))
    except XmlFormatError as exc:
        issue = error("structure", f"The input is not FHIR XML: {exc}",
                      exc.path or "", diagnostics=f"line {exc.line}" if exc.line else None)
        checked = Checked([issue], raw=text.splitlines() or [""], language="xml")
        if exc.line:
            checked.raw_marks[min(exc.line, len(checked.raw)) - 1] = [0]
        else:
            checked.unplaced.append(0)
        return checked
    return check_resource(services, ctx, body, profiles,
                          printer=lambda value, root: pretty_xml(text, value), language="xml")


_SEGMENT_REF = re.compile(r"^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def segment_lines(text: str) -> tuple[list[str], dict[tuple[str, int], int]]:
    """The message one segment a line, and (segment id, occurrence) -> line index."""
    lines = _LINE_BREAK.split(text.strip("\r\n"))
    where: dict[tuple[str, int], int] = {}
    seen: dict[str, int] = {}
    for i, line in enumerate(lines):
        sid = line.lstrip()[:3]
        if not sid.strip():
            continue
        seen[sid] = seen.get(sid, 0) + 1
        where.setdefault((sid, seen[sid]), i)
    return lines, where


def segment_of(expressions, where) -> int | None:
    """The line of the first `OBX[3]-5` style location among an issue's expressions."""
    for expr in expressions:
        m = _SEGMENT_REF.match(expr)
        if m and (m.group(1), int(m.group(2) or 1)) in where:
            return where[(m.group(1), int(m.group(2) or 1))]
    return None


def check_hl7v2(services, ctx, text: str, profiles) -> Checked:
    """An HL7 v2 message converted as $convert-hl7v2 converts it (nothing stored): the
    conversion's issues marked on their segments, then the resulting transaction Bundle
    validated (with the chosen profiles) and pretty-printed, each of its issues also marked
    on the segment its entry came from."""
    lines, where = segment_lines(text)
    if services.hl7v2 is None:
        raise OperationOutcomeError([error("not-supported", "HL7 v2 is not enabled on this "
                                           "server")], 501)
    # the conversion merges what is stored about the message's patient and encounter into
    # the Bundle shown: a caller who may not read them whole may not see it
    services.guard.require_whole(ctx, ("Patient", "Encounter"), "r",
                                 "Checking an HL7 v2 message (merged with the stored patient "
                                 "and encounter)")
    preview = services.hl7v2.preview(ctx, text.replace("\r\n", "\r").replace("\n", "\r"))
    checked = Checked(list(preview.issues), preview.message_type, raw=lines, language="hl7v2")
    then = None
    if preview.bundle is not None:
        then = check_resource(services, ctx, preview.bundle, profiles)
        for n, issue in enumerate(then.issues):
            m = re.match(r"Bundle\.entry\[(\d+)\]", issue.expression[0]) \
                if issue.expression else None
            source = preview.sources[int(m.group(1))] \
                if m and int(m.group(1)) < len(preview.sources) else None
            if source is not None:
                then.issues[n] = Issue(issue.severity, issue.code, issue.message,
                                       issue.expression + (str(source),), issue.diagnostics,
                                       issue.source)
        checked.then, checked.then_label = then, "The converted transaction Bundle"
    # every issue, the conversion's and the Bundle's, is marked on its segment
    for n, issue in enumerate(checked.all_issues):
        line = segment_of(issue.expression, where)
        if line is None:
            if n < len(checked.issues):
                checked.unplaced.append(n)
            continue
        checked.raw_marks.setdefault(line, []).append(n)
    return checked


FORMATS: dict[str, InputFormat] = {
    "json": InputFormat("json", "FHIR JSON", check_json,
                        lambda text: text.lstrip()[:1] in ("{", "[")),
    "xml": InputFormat("xml", "FHIR XML", check_xml, lambda text: text.lstrip()[:1] == "<"),
    "hl7v2": InputFormat("hl7v2", "HL7 v2 message", check_hl7v2,
                         lambda text: text.lstrip()[:3] in ("MSH", "FHS", "BHS")),
}


def choose(fmt: str, text: str) -> InputFormat:
    if fmt in FORMATS:
        return FORMATS[fmt]
    for candidate in FORMATS.values():
        if candidate.sniff(text):
            return candidate
    return FORMATS["json"]


def counts(issues: list[Issue]) -> dict[str, int]:
    out = {"fatal": 0, "error": 0, "warning": 0, "information": 0}
    for i in issues:
        out[i.severity] = out.get(i.severity, 0) + 1
    return out
