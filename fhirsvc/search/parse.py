"""Search request -> SearchQuery (fhirsvc.search.criteria): every value parsed, checked and
normalised here, so a malformed one is a 400 naming the parameter before storage is touched.

    parser = SearchParser(registry, default_count=20, max_count=1000)
    parser.parse("Observation", [("code", "http://loinc.org|8302-2")], base_url=..., strict=False)
    parser.criteria("Patient", [("identifier", "sys|1")])     # conditional operations (strict)
    parser.everything("123", [("_count", "50")])
"""
from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation

from ..outcomes import fail, warning
from . import criteria as c
from .registry import SearchParam, SearchRegistry
from .text import text_query
from .values import (DAY, MAX_EXPONENT, MAX_LEN, date_bounds, decimal_places, normalise,
                     reference_version)

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_SPLIT_COMMA = re.compile(r"(?<!\\),")
_VERSION_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # R4 id

MODIFIERS = {
    "token": {"not", "text", "of-type", "missing", "in", "not-in", "below", "above"},
    "string": {"exact", "contains", "missing"},
    "date": {"missing"},
    "reference": {"missing", "identifier"},  # plus :[Type]
    "quantity": {"missing"},
    "number": {"missing"},
    "uri": {"below", "above", "missing"},
    "composite": {"missing"},
}
SILENT = {"_format", "_pretty"}
CONTROL = {"_count", "_offset", "_sort", "_include", "_revinclude", "_total", "_summary",
           "_elements", "_type"} | SILENT
SUMMARY_VALUES = {"true", "false", "text", "data", "count"}
RESOURCE_COLUMNS = ("_id", "_lastUpdated")  # answered from the resources table
TEXT_PARAMS = {"_text": "narrative", "_content": "content"}  # full-text (fhirsvc.search.text)
MAX_CHAIN = 4  # levels of `a.b.c...` and of `_has` inside `_has`


def split_values(value: str) -> list[str]:
    """Comma = OR; `\\,` is a literal comma."""
    return [v.replace("\\,", ",") for v in _SPLIT_COMMA.split(value)]


def _unescape(v: str) -> str:
    return v.replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def _split_bar(v: str) -> list[str]:
    return [_unescape(x) for x in re.split(r"(?<!\\)\|", v)]


def bad(name: str, message: str):
    return fail(400, "invalid", message, name)


def prefix_of(value: str) -> tuple[str, str]:
    if len(value) > 2 and value[:2] in PREFIXES and not value[2].isalpha():
        return value[:2], value[2:]
    return "eq", value


# -- values ------------------------------------------------------------------------------------

def date_match(name: str, value: str) -> c.DateMatch:
    prefix, v = prefix_of(value)
    b = date_bounds(v)
    if b is None:
        raise bad(name, f"Invalid date '{value}' for parameter '{name}'")
    gap = 0
    if prefix == "ap":
        # R4 leaves "approximately" to the server: 10% of the distance from now, at least a day
        now = time.time_ns() // 1000
        gap = max(abs(now - (b[0] + b[1]) // 2) // 10, DAY)
    return c.DateMatch(prefix, b[0], b[1], gap)


def number_match(name: str, value: str) -> c.NumberMatch:
    prefix, text = prefix_of(value)
    if not _NUMBER.match(text):
        raise bad(name, f"Invalid number '{text}' for parameter '{name}'")
    try:
        v = Decimal(text)                # compared as decimals, never as doubles
    except InvalidOperation:             # an exponent beyond what Decimal takes
        v = Decimal(f"1e{MAX_EXPONENT + 1}")
    if v and not -MAX_EXPONENT <= v.adjusted() + 1 <= MAX_EXPONENT:
        raise bad(name, f"Number '{text}' for parameter '{name}' is outside the searchable "
                        f"range (exponents up to {MAX_EXPONENT})")
    # the implicit precision range: half a unit of the last significant digit, exactly
    half = Decimal(5).scaleb(-decimal_places(text) - 1)
    return c.NumberMatch(prefix, v, v - half, v + half)


def quantity_match(name: str, value: str, unit_fallback: bool) -> c.QuantityMatch:
    parts = _split_bar(value)
    if len(parts) not in (1, 3):
        raise bad(name, f"Invalid quantity '{value}' for parameter '{name}'")
    number = number_match(name, parts[0])
    if len(parts) == 1:
        return c.QuantityMatch(number)
    system, code = parts[1] or None, parts[2] or None
    return c.QuantityMatch(number, system, code, unit_fallback and system is None)


def implies(system_implied: frozenset | bool, system: str | None) -> bool:
    """Whether a value without a system may stand for `system` (SearchRegistry.system_implied:
    True any, False none, else those systems)."""
    return bool(system) and (system_implied is True or (
        system_implied is not False and system in system_implied))


def token_match(name: str, modifier: str | None, value: str,
                system_implied: frozenset | bool = False):
    if modifier == "text":
        return c.TokenText(normalise(value))
    if modifier == "of-type":
        parts = _split_bar(value)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise bad(name, f"Parameter '{name}' needs system|code|value, got '{value}'")
        return c.TokenOfType(f"{parts[0]}|{parts[1]}"[:MAX_LEN], parts[2][:MAX_LEN])
    parts = _split_bar(value)
    if len(parts) == 1:  # no system given (`a\|b`: an escaped bar is part of the code)
        parts = [None, parts[0]]
    if len(parts) != 2:
        raise bad(name, f"Invalid token '{value}' for parameter '{name}'")
    system, code = parts
    if not code and (system is None or system == ""):
        raise bad(name, f"Empty token value for parameter '{name}'")
    # primitive `code` elements (status, gender) carry no system: it is implied by the
    # element's binding, so `gender=http://hl7.org/fhir/administrative-gender|female` matches
    # them as well. Only those, and only with their binding's system (`system_implied`, per
    # parameter: SearchRegistry.system_implied): `identifier=sys|MRN` never matches an
    # identifier without a system.
    return c.TokenMatch(system[:MAX_LEN] if system else system, code[:MAX_LEN] if code else None,
                        or_no_system=bool(code) and implies(system_implied, system))


def valueset_match(name: str, value: str, terminology,
                   system_implied: frozenset | bool = True) -> list:
    """:in / :not-in: the codes of the ValueSet `value` (a canonical URL) as one TokenIn per
    system, from the expansions the server holds (core, the guide, stored ValueSets)."""
    exp = terminology.expansion(value) if terminology is not None else None
    if exp is None:
        raise bad(name, f"ValueSet '{value}' is not known to this server (:in and :not-in take "
                  "the canonical URL of a ValueSet it holds)")
    if exp["open"]:
        raise fail(400, "not-supported", f"ValueSet '{value}' cannot be expanded here: it "
                   "includes codes of " + ", ".join(sorted(exp["open"])) + " that this server "
                   "cannot enumerate", name)
    out = [c.TokenIn(system, tuple(sorted(codes)), implies(system_implied, system))
           for system, codes in sorted(exp["codes"].items()) if codes]
    return out or [c.Nothing()]


def hierarchy_match(name: str, modifier: str, value: str, terminology,
                    system_implied: frozenset | bool = True) -> c.TokenIn:
    """:below (the code and its descendants) / :above (the code and its ancestors) through the
    is-a hierarchy of a code system the server holds."""
    parts = _split_bar(value)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise bad(name, f"':{modifier}' on a token needs system|code, got '{value}'")
    system, code = parts
    cs = terminology.codesystem(system) if terminology is not None else None
    if cs is None:
        raise fail(400, "not-supported", f"Code system '{system}' is not known to this server, "
                   f"so ':{modifier}' cannot follow its hierarchy", name)
    parents: dict = cs.get("parents") or {}
    if modifier == "above":
        related = walk_related(code, lambda x: parents.get(x, ()))
    else:
        children: dict[str, list[str]] = {}
        for child, ps in parents.items():
            for p in ps:
                children.setdefault(p, []).append(child)
        related = walk_related(code, lambda x: children.get(x, ()))
    return c.TokenIn(system, tuple(sorted(related)), implies(system_implied, system))


def walk_related(code: str, step) -> set[str]:
    out, stack = set(), [code]
    while stack:
        x = stack.pop()
        if x not in out:
            out.add(x)
            stack.extend(step(x))
    return out


def uri_above(value: str) -> c.UriIn:
    """The URL and every parent path of it (`http://a/b/c` -> also `http://a/b`, `http://a`),
    with and without a trailing slash."""
    head, sep, rest = value.partition("://")
    if not sep:
        return c.UriIn((value,))
    segs = rest.rstrip("/").split("/")
    out = [value]
    for i in range(len(segs), 0, -1):
        u = head + "://" + "/".join(segs[:i])
        out += [u, u + "/"]
    return c.UriIn(tuple(dict.fromkeys(out)))


def string_match(modifier: str | None, value: str) -> c.StringMatch:
    n = normalise(value)
    if modifier == "exact":
        return c.StringMatch("exact", n, value)
    if modifier == "contains":
        return c.StringMatch("contains", n)
    return c.StringMatch("prefix", n)


def reference_match(name: str, modifier: str | None, value: str, base_url: str,
                    param: SearchParam):
    """Type/id, id, absolute URL (own base -> local), canonical URL; :Type restricts;
    `.../_history/v` matches only references to that version."""
    version = None
    if "/_history/" in value:
        version = reference_version(value)
        if version is None or not _VERSION_ID.match(version) \
                or value.split("/_history/", 1)[1] != version:
            raise bad(name, f"Invalid version in reference '{value}' for parameter '{name}'")
        value = value.split("/_history/")[0]
    rtype = modifier if modifier and modifier[:1].isupper() else None
    base = base_url.rstrip("/") + "/"
    if "://" in value or value.startswith("urn:"):
        if value.startswith(base):
            value = value[len(base):]
        else:
            return c.ReferenceMatch(url=value.split("|")[0], version=version)
    parts = value.split("/")
    if len(parts) == 2 and parts[0][:1].isupper():
        if rtype and rtype != parts[0]:
            return c.Nothing()
        return c.ReferenceMatch(parts[0], parts[1], version=version)
    if version is not None:
        raise bad(name, f"A reference with a version needs its type: Type/id/_history/v, got "
                  f"'{value}/_history/{version}' for parameter '{name}'")
    if len(parts) != 1 or not value:
        raise bad(name, f"Invalid reference '{value}' for parameter '{name}'")
    if rtype:
        return c.ReferenceMatch(rtype, value)
    if len(param.target) == 1:
        return c.ReferenceMatch(param.target[0], value)
    return c.ReferenceMatch(target_id=value)


def composite_match(name: str, value: str, kinds: tuple[str, ...]) -> c.CompositeMatch:
    parts = re.split(r"(?<!\\)\$", value)
    if len(parts) != 2:
        raise bad(name, f"Composite parameter '{name}' needs two values joined by '$'")
    first, second = parts[0].replace("\\$", "$"), parts[1].replace("\\$", "$")
    fp = _split_bar(first) if "|" in first else [None, _unescape(first)]
    kind = kinds[1]
    if kind == "quantity":
        other = quantity_match(name, second, unit_fallback=False)
    elif kind == "number":
        other = number_match(name, second)
    elif kind == "date":
        other = date_match(name, second)
    elif kind == "string":
        other = c.StringMatch("prefix", normalise(second))
    elif kind == "token":
        sp = _split_bar(second) if "|" in second else [None, _unescape(second)]
        other = c.TokenMatch(sp[0] or None, sp[-1])
    else:  # reference, uri
        segs = second.split("/")
        other = c.ReferenceMatch(segs[0], segs[1]) if len(segs) == 2 else c.ReferenceAny(second)
    return c.CompositeMatch(fp[0] or None, fp[-1], other)


# -- the parser ----------------------------------------------------------------------------------

class SearchParser:
    def __init__(self, registry: SearchRegistry, default_count: int = 20,
                 max_count: int = 1000, terminology=None):
        self.registry = registry
        self.default_count = default_count
        self.max_count = max_count
        # `expansion(url)` and `codesystem(url)` (fhirsvc.definitions.registry.Registry): the
        # ValueSets of :in / :not-in and the hierarchies of :below / :above on tokens
        self.terminology = terminology

    def parse(self, rtype: str | None, params: list[tuple[str, str]], *, base_url: str,
              strict: bool, compartment: tuple[str, str] | None = None) -> c.SearchQuery:
        reg = self.registry
        if rtype is not None and not reg.is_type(rtype):
            raise fail(404, "not-found", f"Unknown resource type '{rtype}'")
        if rtype is None:
            # `GET [base]?_type=Patient&name=x` is a search of that one type
            single = [v for k, v in params if k == "_type" and v and "," not in v]
            if len(single) == 1 and reg.is_type(single[0]):
                rtype = single[0]
        ctl = _Control(self.default_count)
        clauses: list = []
        links: list[tuple[str, str]] = []
        unknown: list[str] = []
        date_groups: dict[str, list[tuple[str, str]]] = {}
        for name, value in params:
            code = name.split(":", 1)[0].split(".", 1)[0]
            if code in CONTROL:
                self._control(ctl, rtype, name, value, code)
                if code not in SILENT:
                    links.append((name, value))
                continue
            if code == "_has":
                if rtype is None:
                    raise fail(400, "not-supported", "_has needs a resource type", name)
                clauses.append(self._has(rtype, name, value, base_url))
                links.append((name, value))
                continue
            if code in TEXT_PARAMS:
                if name != code:
                    raise fail(400, "not-supported", f"'{code}' takes no modifier", name)
                clauses.append(c.TextClause(TEXT_PARAMS[code], text_query(name, value)))
                links.append((name, value))
                continue
            if code == "_filter":
                if name != code:
                    raise fail(400, "not-supported", "'_filter' takes no modifier", name)
                got = parse_filter(self, rtype, value, base_url)
                clauses.extend(got.clauses if isinstance(got, c.AllClause) else [got])
                links.append((name, value))
                continue
            if "." in name:
                clause = self._chain(rtype, name, value, base_url)
                if clause is None:
                    unknown.append(name)
                    continue
                clauses.append(clause)
                links.append((name, value))
                continue
            modifier = name.split(":", 1)[1] if ":" in name else None
            param = self._param(rtype, code)
            if param is None and code not in RESOURCE_COLUMNS:
                unknown.append(name)
                continue
            links.append((name, value))
            if (param is not None and param.type == "date" and rtype is not None
                    and modifier is None and "," not in value):
                date_groups.setdefault(code, []).append((name, value))
                continue
            clauses.append(self._clause(rtype, name, value, param, modifier, base_url))
        for code, items in date_groups.items():
            if len(items) == 1:
                name, value = items[0]
                clauses.append(self._clause(rtype, name, value, self._param(rtype, code), None,
                                            base_url))
            else:
                clauses.append(c.DateAndClause(rtype, code, tuple(
                    date_match(name, value) for name, value in items)))
        if ctl.types:
            clauses.append(c.TypesClause(tuple(ctl.types)))
        if compartment is not None:
            clauses.append(self._compartment(rtype, compartment))
            own = getattr(compartment, "own_targets", ())
            if own and rtype is not None:
                # a Patient is in the compartment through `link` (or as the patient itself)
                comps = {"Patient": ["link"], **self.registry.compartments.get("Patient", {})}
                clauses.append(c.OwnTargetsClause(
                    rtype, compartment[1], tuple(own),
                    tuple(sorted((t, tuple(codes)) for t, codes in comps.items() if codes))))
        issues = ()
        if unknown:
            if strict:
                raise fail(400, "invalid", "Unknown or unsupported search parameter(s): "
                           + ", ".join(unknown), *unknown)
            issues = tuple(warning("not-supported", f"Search parameter '{n}' is not known or "
                                   "not supported and was ignored", n) for n in unknown)
        return c.SearchQuery(
            c.Criteria(rtype, tuple(clauses)), tuple(ctl.sort), ctl.count, ctl.offset,
            tuple(ctl.includes), tuple(ctl.revincludes), ctl.total, ctl.summary,
            tuple(ctl.elements) if ctl.elements is not None else None, issues, tuple(links))

    def criteria(self, rtype: str, params: list[tuple[str, str]]) -> c.Criteria:
        """The criteria of a conditional operation (strict; control parameters ignored)."""
        criteria = [(k, v) for k, v in params if k.split(":")[0] not in CONTROL]
        if not criteria:
            raise fail(400, "invalid", "A conditional operation needs search criteria")
        return self.parse(rtype, criteria, base_url="", strict=True).criteria

    def everything(self, patient_id: str, params: list[tuple[str, str]]) -> c.EverythingQuery:
        count, offset, types, since = min(self.default_count * 5, self.max_count), 0, None, None
        links = []
        for k, v in params:
            if k == "_count":
                if not v.isdigit():
                    raise bad(k, f"_count must be a non-negative integer, got '{v}'")
                count = min(int(v), self.max_count)
            elif k == "_offset":
                if not v.isdigit():
                    raise bad(k, f"_offset must be a non-negative integer, got '{v}'")
                offset = int(v)
                continue
            elif k == "_type":
                types = tuple(sorted(set(t for t in v.split(",") if t)))
            elif k == "_since":
                b = date_bounds(v)
                if b is None:
                    raise bad(k, f"Invalid instant '{v}' for _since")
                since = b[0]
            elif k in SILENT:
                continue
            links.append((k, v))
        return c.EverythingQuery(patient_id, count, offset, types, since, tuple(links))

    # -- pieces ------------------------------------------------------------------------------------
    def _structures(self):
        """The StructureDefinitions that tell which token parameters end in primitive codes:
        the terminology's registry when it is one (the runtime's), else the process-wide R4
        core + guide registry (an engine built without definitions, as in tests)."""
        t = self.terminology
        if t is not None and hasattr(t, "snapshot") and hasattr(t, "type_url"):
            return t
        from ..definitions.registry import default_registry
        return default_registry()

    def _param(self, rtype: str | None, code: str) -> SearchParam | None:
        if code in RESOURCE_COLUMNS:
            return None
        p = self.registry.get(rtype or "Resource", code)
        if p is None:
            return None
        if self.registry.compiled_param(rtype or "Basic", code) is None:
            return None  # known but not indexable (_text, _content, special)
        return p

    def _clause(self, rtype: str | None, name: str, raw_value: str,
                param: SearchParam | None, modifier: str | None, base_url: str):
        """The clause for one `name=value` occurrence."""
        code = param.code if param is not None else name.split(":")[0]
        values = split_values(raw_value)
        if code == "_id":
            if modifier == "missing":
                return c.ConstantClause(raw_value == "false")
            if modifier:
                raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                           "'_id'", name)
            return c.IdClause(tuple(values))
        if code == "_lastUpdated":
            if modifier:
                raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                           "'_lastUpdated'", name)
            return c.LastUpdatedClause(tuple(date_match(name, v) for v in values))
        assert param is not None
        kind = param.type
        comp = self.registry.compiled_param(rtype or "Basic", code)
        if comp is None:
            raise fail(400, "not-supported", f"Search parameter '{code}' of {rtype} is not "
                       "supported (no indexable expression)", name)
        allowed = MODIFIERS[kind]
        if kind == "reference" and modifier == "identifier":
            kind = "token"  # Reference.identifier is indexed as a token under `<code>:identifier`
        if modifier and modifier not in allowed and not (kind == "reference"
                                                         and modifier[:1].isupper()):
            raise fail(400, "not-supported", f"Modifier ':{modifier}' is not supported on "
                       f"{kind} parameter '{code}'", name)
        pcode = code + ":" + modifier if modifier in ("of-type", "identifier") else code
        # a logical reference's identifier (`:identifier`) is an Identifier: never implied
        implied = kind == "token" and modifier != "identifier" and \
            self.registry.system_implied(rtype or "Basic", code, self._structures())
        if modifier in ("in", "not-in", "below", "above") and kind == "token":
            out = []
            for v in values:
                if modifier in ("in", "not-in"):
                    out.extend(valueset_match(name, v, self.terminology, implied))
                else:
                    out.append(hierarchy_match(name, modifier, v, self.terminology, implied))
            return c.ParamClause(name, kind, rtype, pcode, tuple(out), modifier,
                                 negate=modifier == "not-in")
        if modifier == "missing":
            if raw_value not in ("true", "false"):
                raise bad(name, f"':missing' takes true or false, got '{raw_value}'")
            return c.MissingClause(name, kind, rtype, pcode, raw_value == "true")
        out = []
        for v in values:
            if v == "":
                raise bad(name, f"Empty value for parameter '{name}'")
            if kind == "token":
                out.append(token_match(name, modifier if modifier in ("text", "of-type")
                                       else None, v, implied))
            elif kind == "string":
                out.append(string_match(modifier, v))
            elif kind == "date":
                out.append(date_match(name, v))
            elif kind == "number":
                out.append(number_match(name, v))
            elif kind == "quantity":
                out.append(quantity_match(name, v, unit_fallback=True))
            elif kind == "uri":
                out.append(uri_above(v) if modifier == "above"
                           else c.UriMatch(v, below=modifier == "below"))
            elif kind == "reference":
                out.append(reference_match(name, modifier, v, base_url, param))
            elif kind == "composite":
                out.append(composite_match(name, v, comp.component_types))
        return c.ParamClause(name, kind, rtype, pcode, tuple(out), modifier,
                             negate=modifier == "not")

    def _control(self, ctl: "_Control", rtype: str | None, name: str, value: str,
                 code: str) -> None:
        mod = name.split(":", 1)[1] if ":" in name else None
        if code == "_count":
            if not value.isdigit():
                raise bad(name, f"_count must be a non-negative integer, got '{value}'")
            ctl.count = min(int(value), self.max_count)
        elif code == "_offset":
            if not value.isdigit():
                raise bad(name, f"_offset must be a non-negative integer, got '{value}'")
            ctl.offset = int(value)
        elif code == "_total":
            if value not in ("none", "accurate", "estimate"):
                raise bad(name, f"_total must be none, estimate or accurate, got '{value}'")
            ctl.total = value
        elif code == "_summary":
            if value not in SUMMARY_VALUES:
                raise bad(name, f"Invalid _summary '{value}'")
            ctl.summary = None if value == "false" else value
        elif code == "_elements":
            ctl.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif code == "_type":
            types = [t for t in value.split(",") if t]
            for t in types:
                if not self.registry.is_type(t):
                    raise bad(name, f"Unknown resource type '{t}' in _type")
            ctl.types = types
        elif code == "_sort":
            for key in value.split(","):
                desc = key.startswith("-")
                key = key[1:] if desc else key
                param = self._param(rtype, key)
                if key not in RESOURCE_COLUMNS and param is None:
                    raise bad(name, f"Unknown sort parameter '{key}'")
                ctl.sort.append(c.SortKey(key, desc, param.type if param else None))
        elif code in ("_include", "_revinclude"):
            iterate = mod == "iterate" or mod == "recurse"
            if mod and not iterate:
                raise bad(name, f"Invalid modifier on {code}: '{mod}'")
            for v in split_values(value):
                if v == "*":
                    spec = c.IncludeSpec("*", "*", None, iterate)
                else:
                    parts = v.split(":")
                    if len(parts) not in (2, 3) or not self.registry.is_type(parts[0]):
                        raise bad(name, f"Invalid {code} value '{v}' (Type:param[:Target])")
                    if parts[1] != "*":
                        p = self.registry.get(parts[0], parts[1])
                        if p is None or p.type != "reference":
                            raise bad(name, f"{parts[0]} has no reference parameter "
                                      f"'{parts[1]}'")
                    spec = c.IncludeSpec(parts[0], parts[1],
                                         parts[2] if len(parts) == 3 else None, iterate)
                (ctl.includes if code == "_include" else ctl.revincludes).append(spec)

    def _chain(self, rtype: str | None, name: str, value: str, base_url: str, depth: int = 1):
        head, tail = name.split(".", 1)
        if depth > MAX_CHAIN:
            raise fail(400, "not-supported", f"Chains of more than {MAX_CHAIN} levels are not "
                       "supported", name)
        code, _, mod = head.partition(":")
        if rtype is None:
            raise fail(400, "not-supported", "Chained parameters need a resource type", name)
        param = self.registry.get(rtype, code)
        if param is None or param.type != "reference":
            return None
        targets = [mod] if mod else (param.target or self.registry.resource_types)
        tcode, _, tmod = tail.partition(":")
        inner = []
        for t in targets:
            if "." in tail:  # the next level: `subject:Patient.organization.name=...`
                sub = self._chain(t, tail, value, base_url, depth + 1)
                if sub is not None:
                    inner.append((t, sub))
                continue
            if tcode in RESOURCE_COLUMNS:
                p2 = None
            else:
                p2 = self._param(t, tcode)
                if p2 is None:
                    continue
            inner.append((t, self._clause(t, tail, value, p2, tmod or None, base_url)))
        if not inner:
            return None
        return c.ChainClause(rtype, code, tuple(inner))

    def _has(self, rtype: str, name: str, value: str, base_url: str,
             depth: int = 1) -> c.HasClause:
        parts = name.split(":")
        if len(parts) < 4:
            raise bad(name, "_has takes _has:Type:reference:parameter")
        if depth > MAX_CHAIN:
            raise fail(400, "not-supported", f"_has nested more than {MAX_CHAIN} levels is not "
                       "supported", name)
        t2, refcode, code2 = parts[1], parts[2], parts[3]
        mod2 = parts[4] if len(parts) > 4 else None
        if not self.registry.is_type(t2):
            raise bad(name, f"Unknown resource type '{t2}' in _has")
        pref = self.registry.get(t2, refcode)
        if pref is None or pref.type != "reference":
            raise bad(name, f"{t2} has no reference parameter '{refcode}'")
        if code2 == "_has":  # `_has:Observation:patient:_has:AuditEvent:entity:agent=...`
            return c.HasClause(rtype, t2, refcode,
                               self._has(t2, ":".join(parts[3:]), value, base_url, depth + 1))
        p2 = None if code2 in RESOURCE_COLUMNS else self._param(t2, code2)
        if p2 is None and code2 not in RESOURCE_COLUMNS:
            raise bad(name, f"{t2} has no search parameter '{code2}'")
        inner = self._clause(t2, ":".join(parts[3:]), value, p2, mod2, base_url)
        return c.HasClause(rtype, t2, refcode, inner)

    def _compartment(self, rtype: str | None, compartment: tuple[str, str]
                     ) -> c.CompartmentClause:
        ctype, cid = compartment
        if ctype != "Patient":
            raise fail(400, "not-supported", f"Compartment {ctype} is not supported")
        if rtype is None:
            raise fail(400, "not-supported", "Compartment search needs a resource type")
        codes = self.registry.patient_compartment(rtype)
        if rtype == "Patient":
            # the patient itself, and patients linked to it
            return c.CompartmentClause(rtype, cid, tuple(codes or ["link"]))
        if not codes:
            raise fail(400, "invalid", f"{rtype} is not in the Patient compartment")
        return c.CompartmentClause(rtype, cid, tuple(codes))


class _Control:
    """The control parameters while a request is parsed (frozen into the SearchQuery)."""

    def __init__(self, count: int):
        self.count = count
        self.offset = 0
        self.total: str | None = None  # not asked: counted up to the cap
        self.summary: str | None = None
        self.elements: list[str] | None = None
        self.types: list[str] | None = None
        self.sort: list[c.SortKey] = []
        self.includes: list[c.IncludeSpec] = []
        self.revincludes: list[c.IncludeSpec] = []


from .filter import parse_filter  # noqa: E402  (filter builds clauses through the parser)
