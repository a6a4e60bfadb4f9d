"""The validate page's work: an input format turns the pasted or uploaded text into issues
(from `services.validate`, the same validator as every write) and a listing of the input with
each issue's lines marked. Nothing is stored.

Input formats plug in here: JSON now; XML (branch xmlval) and HL7 v2 (branch hl7v2) replace
their entry in FORMATS with an `InputFormat` whose `check` is set, and the page offers them
(until then they are listed, disabled, as not yet available). A `check(services, ctx, text,
profiles)` returns a `Checked` whose listing is either `printed` (a parsed resource
pretty-printed with paths, see pretty.py: an XML format that has the resource as JSON can
return `check_resource(...)`) or `raw` (the text as it came, lines numbered, e.g. an HL7 v2
message, one segment a line: put each issue's index in `raw_marks[line index]`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from ..outcomes import SEVERITY_ORDER, Issue, OperationOutcomeError, error, sort_issues
from ..wire import JsonSyntaxError, decode_json, is_type
from .pretty import Printed, pretty


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
        return min((self.issues[n].severity for n in marked if n < len(self.issues)),
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


def check_resource(services, ctx, body, profiles) -> Checked:
    """A parsed resource (JSON objects) checked and pretty-printed with its issues marked:
    the JSON path, and the one an XML format can reuse once it has the resource as JSON."""
    if not isinstance(body, dict) or not is_type(body.get("resourceType")):
        what = (f"resourceType {body.get('resourceType')!r} is not an R4 resource type"
                if isinstance(body, dict) and "resourceType" in body
                else "it has no resourceType" if isinstance(body, dict)
                else "it is not a JSON object")
        issues = [error("invalid", f"The input is not a FHIR resource: {what}",
                        "resourceType" if isinstance(body, dict) else "")]
        return place(Checked(issues, printed=pretty(body, "$")), "$")
    rtype = body["resourceType"]
    try:
        issues = services.validate.validate(ctx, rtype, None, with_profiles(body, profiles))
    except OperationOutcomeError as exc:   # e.g. a Parameters body the service refuses
        issues = exc.issues
    return place(Checked(sort_issues(issues), rtype, printed=pretty(body, rtype)), rtype)


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


def place(checked: Checked, root: str) -> Checked:
    """Attach each issue to the printed lines of its first locatable expression."""
    for n, issue in enumerate(checked.issues):
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
    return checked


FORMATS: dict[str, InputFormat] = {
    "json": InputFormat("json", "FHIR JSON", check_json,
                        lambda text: text.lstrip()[:1] in ("{", "[")),
    "xml": InputFormat("xml", "FHIR XML", None, lambda text: text.lstrip()[:1] == "<",
                       "FHIR XML is not supported by this server yet."),
    "hl7v2": InputFormat("hl7v2", "HL7 v2 message", None,
                         lambda text: text.lstrip()[:4] == "MSH|",
                         "HL7 v2 messages are not supported by this server yet."),
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
