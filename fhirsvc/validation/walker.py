"""The walker: the only code that descends into a resource.

It owns the JSON shape (objects, arrays, nulls, primitives and their `_name` parts, choice
names, nested resources) and the location (FHIRPath) of every value. At each object it maps
JSON names to the children the definitions give (Definitions.children); for each child it
runs the element-scope rules on its values, then walks each value: the value-scope rules that
apply to the element and type (rules.plan, cached per generation), then the descent into the
definition that governs the value (Definitions.definition_for: an extension's own definition,
a resource's profiles, the type's children). Rules hand back Issues and the instructions
`Descend`, `Conforms` and `STOP`, which only the walker executes.
"""
from __future__ import annotations

import re

from orjson import Fragment
from orjson import dumps as _orjson_dumps

from ..jsontext import DecimalText

from ..outcomes import Issue
from .fhirpath import (current_bundle, current_bundle_index, current_conformance,
                       current_registry, current_root)
from .model import Node
from .primitives import CHECKERS, PRIMITIVES, check_id
from .profiles import applicable
from .rules import plan
from .rules.structure import _is_resource_id, cardinality, type_
from .rules.terminology import binding
from .rules.values import fixed
from .run import NO_VALUES, STOP, Conforms, Descend, Run, Values, issue

CORE = "http://hl7.org/fhir/StructureDefinition/"
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _as_written(o):
    # an exact decimal is written as its JSON text: a value's kept-verdict key is its JSON
    # as given (1.10 is not 1.1, and neither is the string "1.10")
    if o.__class__ is DecimalText and _NUMBER.fullmatch(o.text):
        return Fragment(o.text)
    raise TypeError


def _dumps(value) -> bytes:
    return _orjson_dumps(value, default=_as_written)


MAX_DEPTH = 20  # nested resources (contained, bundle entries, Parameters)

# how a value of an element and type is descended into
_PRIMITIVE, _CONTENT, _RESOURCE, _COMPLEX, _LEAF = range(5)


def validate(resource, profiles, run: Run) -> list[Issue]:
    """Issues of one resource (a Bundle whole: entries, references inside it)."""
    tokens = (current_registry.set(run.reg),
              current_conformance.set(lambda res, url: _conforms_fresh(res, url, run)))
    try:
        walk_resource(resource, list(profiles), None, run)
    finally:
        current_conformance.reset(tokens[1])
        current_registry.reset(tokens[0])
    if run.unchecked:
        run.issues.append(issue(
            "information", "informational",
            "Codes from " + ", ".join(sorted(run.unchecked)) +
            " cannot be checked offline (terminology outside FHIR and the guide)",
            resource.get("resourceType") if isinstance(resource, dict) else None))
    return run.issues


# ---------------------------------------------------------------- instructions
def _conforms(resource: dict, profile: str, sub: Run) -> bool:
    """Whether a resource validates against a profile without error, in the run `sub`."""
    walk_resource(resource, [profile], None, sub)
    return not any(i.is_error for i in sub.issues)


def _conforms_fresh(resource: dict, profile: str, run: Run) -> bool:
    # FHIRPath conformsTo(): a validation of its own (no bundle around it)
    fresh = Run(run.reg, run.defs, False)
    fresh.unknown_extensions = run.unknown_extensions
    return _conforms(resource, profile, fresh)


def _apply(checks, value, element: Node, tcode, location: str, run: Run) -> bool:
    """Run rule checks in order, executing what they yield; False once one said STOP."""
    for check in checks:
        outs = check(value, element, tcode, location, run)
        if outs and not _execute(outs, run):
            return False
    return True


def _execute(outs, run: Run) -> bool:
    """Issues are kept, instructions carried out; False when the rule said STOP."""
    go_on = True
    issues = run.issues
    for out in outs:
        cls = out.__class__
        if cls is Issue:
            issues.append(out)
        elif out is STOP:
            go_on = False
        elif cls is Descend:
            walk_value(out.value, out.ext, out.element, out.type_code, out.location, run)
        elif cls is Conforms:
            sub = Run(run.reg, run.defs, run.strict)
            sub.unknown_extensions = run.unknown_extensions
            sub._bundle = run._bundle
            out.verdict = _conforms(out.resource, out.profile, sub)
            if sub.context_read:
                run.context_read = True
        else:
            raise TypeError(f"a rule yielded {out!r}")
    return go_on


def _value_plan(element: Node, tcode, run: Run):
    key = (element, tcode)
    hit = run.defs.plans.get(key)
    if hit is None:
        if tcode in PRIMITIVES:
            kind = _PRIMITIVE
        elif tcode is None:
            kind = _CONTENT if element.content_ref else _LEAF
        elif tcode in ("Resource", "DomainResource") or run.reg.is_resource_type(tcode):
            kind = _RESOURCE
        else:
            kind = _COMPLEX
        profiles = [p for t in element.types for p in t.profiles] if kind == _RESOURCE else None
        checks = plan("value", element, tcode)
        # a primitive whose only rule is its type (most of them): the walk calls its format
        # check directly and takes the full path only when the check fails
        fast = CHECKERS.get(tcode) if kind == _PRIMITIVE and checks == (type_,) else None
        if fast is not None and element.name == "id" and _is_resource_id(element):
            fast = _resource_id(fast)  # a resource's id is an `id` too (the type rule)
        # a code or uri bound to a value set or fixed (status, use, system ...): few distinct
        # values, whose verdicts are kept like a complex value's
        keep = kind == _PRIMITIVE and (binding in checks or fixed in checks) and \
            all(c in _PURE for c in checks)
        # the children that hold a resource (Bundle.entry.resource): a value with one reads
        # its context (a resource inside), so it is not looked up among the kept verdicts
        holders = tuple(name for name, (kid, ct) in run.defs.children(element, tcode).kids.items()
                        if _holds_resource(kid, ct, run)) if kind == _COMPLEX else ()
        hit = run.defs.plans[key] = (checks, kind, profiles, fast, holders, keep)
    return hit


_PURE = (type_, binding, fixed)  # value rules that read nothing but the value and registry


def _resource_id(checker):
    def check(v):
        return checker(v) or (check_id(v) if v.__class__ is str else None)
    return check


def _holds_resource(kid: Node, ct, run: Run) -> bool:
    codes = [ct] if ct else [t.code for t in kid.types]
    return any(c in ("Resource", "DomainResource") or run.reg.is_resource_type(c)
               for c in codes)


def _element_plan(element: Node, run: Run):
    hit = run.defs.plans.get(element)
    if hit is None:
        hit = run.defs.plans[element] = plan("element", element, None)
    return hit


# ---------------------------------------------------------------- resources
def walk_resource(res, asked: list[str], location: str | None, run: Run,
                  contained: bool = False):
    if res.__class__ is not dict:
        run.issues.append(issue("error", "structure", "A resource must be a JSON object",
                                location))
        return
    rt = res.get("resourceType")
    if not isinstance(rt, str) or not run.reg.is_resource_type(rt):
        run.issues.append(issue(
            "error", "structure" if rt is None else "invalid",
            "Missing resourceType" if rt is None else f"Unknown resource type '{rt}'",
            location or (rt if isinstance(rt, str) and rt.isalnum() else None)))
        return
    location = location or rt
    # a resource inside a value: its walk depends on the walk around it (depth, the
    # resources on the stack, its container): the value's verdict is not kept
    run.context_read = True
    key = id(res)  # the resources on this walk's stack (a Bundle holding itself ...)
    if key in run.validating or run.depth > MAX_DEPTH:
        return
    run.validating.add(key)
    run.depth += 1
    old_root, old_bundle = run._root, run._bundle
    if not contained:  # '#id' in a contained resource points into the container
        run._root = res
    if rt == "Bundle":
        run._bundle = res
    run._resources.append((location, rt))
    tok_r = current_root.set(run._root)
    tok_b = current_bundle.set(run._bundle)
    # references into this bundle are resolved through an index built once, on first use
    tok_i = current_bundle_index.set([res, None]) if rt == "Bundle" else None
    try:
        sds, found, one_of = applicable(res, asked, location, run)
        run.issues += found
        if one_of:
            _require_one_of(res, one_of, location, run)
        if not sds:
            base = run.defs.compiled(CORE + rt)
            sds = [base] if base else []
        for cs in sds:
            root = cs.root
            if _apply(_value_plan(root, rt, run)[0], res, root, rt, location, run):
                walk_complex(res, root, rt, location, run, is_resource=True)
    finally:
        run._resources.pop()
        current_root.reset(tok_r)
        current_bundle.reset(tok_b)
        if tok_i is not None:
            current_bundle_index.reset(tok_i)
        run._root, run._bundle = old_root, old_bundle
        run.depth -= 1
        run.validating.discard(key)


def _require_one_of(resource: dict, guide: list[str], location: str, run: Run):
    """Strict runs with several guide profiles for a type: one of them must fit."""
    for url in guide:
        if run.defs.compiled(url) is None:
            continue
        sub = run.sub(strict=False)
        walk_resource(resource, [url], location, sub)
        if not any(i.is_error for i in sub.issues):
            return
    run.issues.append(issue(
        "error", "invalid", f"The {resource.get('resourceType')} conforms to none of the "
        f"guide's profiles for this type ({', '.join(guide)})", location))


# ---------------------------------------------------------------- values
def walk_value(item, ext, element: Node, tcode, location: str, run: Run):
    hit = run.defs.plans.get((element, tcode))
    _walk_planned(item, ext, element, tcode, location, run,
                  hit if hit is not None else _value_plan(element, tcode, run))


def _walk_planned(item, ext, element: Node, tcode, location: str, run: Run, vplan):
    if item.__class__ is dict:
        if not item:
            run.issues.append(issue("error", "invalid", "Object must have some content",
                                    location, "ele-1"))
            return
        if vplan[1] == _COMPLEX and run.kept is not None:
            holders = vplan[4]
            if not holders or not any(h in item for h in holders):
                _walk_kept(item, element, tcode, location, run, vplan)
                return
    elif vplan[5] and ext is None and item.__class__ is str and run.kept is not None:
        _kept_walk((element, tcode, run._bundle is None, item, _PRIM), location, run,
                   _walk_checked, item, None, element, tcode, location, run, vplan)
        return
    _walk_checked(item, ext, element, tcode, location, run, vplan)


# kept verdicts per run settings and generation (then the table restarts), and the longest
# JSON text kept (a larger value is walked; the values inside it are kept on their own):
# at most some 40 MB a table, a few MB in practice (values of some hundred bytes)
KEPT_MAX = 20000
KEPT_MAX_TEXT = 2048


def _walk_kept(item: dict, element: Node, tcode, location: str, run: Run, vplan):
    """A complex value whose verdict may be kept: one already walked with the same element
    definition and type, in the same generation and run settings, with or without a
    bundle around it as now, whose checks read nothing of its context (Run.root / bundle /
    resources / top; no resource inside it) but through probes that give the same results
    again (Run.probe), has the same verdict again: it is not walked again. Its issues are
    repeated at its location, and its unchecked code systems.
    The JSON text of the value (orjson, key order as given) is its identity; a value orjson
    cannot write (an exact decimal, a number beyond 64 bits) is walked as usual."""
    try:
        text = _dumps(item)
    except TypeError:
        text = None
    if text is None or len(text) > KEPT_MAX_TEXT:
        _walk_checked(item, None, element, tcode, location, run, vplan)
        return
    key = (element, tcode, run._bundle is None, text)
    got = run.kept.get(key)
    if got is not None and (not got[2] or _probes_hold(got[2], run)):
        _repeat(got, location, run)  # the usual case, without _kept_walk's call
        return
    _kept_walk(key, location, run, _walk_checked, item, None, element, tcode, location, run,
               vplan)


def _kept_walk(key, location: str, run: Run, walk, *args):
    """walk(*args) unless `key` has a kept verdict whose probes hold; keeps the verdict when
    the walk read nothing of the run's context but through probes, and its issues can be
    told relative to `location`."""
    kept = run.kept
    got = kept.get(key)
    if got is not None and (not got[2] or _probes_hold(got[2], run)):
        _repeat(got, location, run)
        return
    issues = run.issues
    n = len(issues)
    outer_read, outer_unchecked, outer_probes = run.context_read, run.unchecked, run.probes
    run.context_read = False
    mine = run.unchecked = set()
    read = run.probes = []
    try:
        walk(*args)
    finally:
        outer_unchecked |= mine
        run.unchecked = outer_unchecked
        if outer_probes is not None:
            outer_probes += read
        run.probes = outer_probes
    if run.context_read:
        return  # stays set for the values around this one
    run.context_read = outer_read
    found = _relative(issues, n, location) if len(issues) > n else ()
    if found is not None:
        if len(kept) >= KEPT_MAX:
            kept.clear()
        kept[key] = (tuple(sorted(mine)), found, tuple(read))


def _repeat(got: tuple, location: str, run: Run):
    """A kept verdict met again: its unchecked code systems, its issues at `location`, and
    its probes for the kept walks around it."""
    unchecked, issues, probes = got
    if unchecked:
        run.unchecked.update(unchecked)
    if issues:
        run.issues += _relocated(issues, location)
    if probes and run.probes is not None:
        run.probes += probes


def _probes_hold(probes, run: Run) -> bool:
    for fn, args, result in probes:
        if fn(run, *args) != result:
            return False
    return True


def _relative(issues: list, start: int, location: str):
    """The issues from `start` on with their expressions relative to `location` (kept with a
    verdict), or None when one is not inside it or names it in its text (it could not be
    repeated elsewhere as it is)."""
    out = []
    size = len(location)
    for i in issues[start:]:
        rel = []
        for e in i.expression:
            if not e.startswith(location) or e[size:size + 1] not in ("", ".", "["):
                return None
            rel.append(e[size:])
        if location in i.message or (i.diagnostics and location in i.diagnostics):
            return None
        out.append((i, tuple(rel)))
    return tuple(out)


def _relocated(issues, location: str) -> list:
    return [Issue(i.severity, i.code, i.message, tuple(location + e for e in rel),
                  i.diagnostics, i.source, i.details_coding) for i, rel in issues]


def _walk_checked(item, ext, element: Node, tcode, location: str, run: Run, vplan):
    checks, kind, profiles = vplan[0], vplan[1], vplan[2]
    for check in checks:
        outs = check(item, element, tcode, location, run)
        if outs and not _execute(outs, run):
            return
    if kind == _PRIMITIVE:
        if ext is not None:
            _walk_primitive_part(ext, tcode, location, run)
    elif kind == _COMPLEX:
        if item.__class__ is dict:
            walk_complex(item, run.defs.definition_for(item, element, tcode), tcode, location,
                         run)
    elif kind == _RESOURCE:
        if element.name == "contained" and run.options.validate_contains == "IGNORE":
            return
        walk_resource(item, profiles, location, run, contained=element.name == "contained")
    elif kind == _CONTENT:
        if item.__class__ is dict:
            walk_complex(item, element, None, location, run)


def _walk_primitive_part(ext, tcode: str, location: str, run: Run):
    """The `_name` object of a primitive: its id and extensions, as the type defines them."""
    if ext.__class__ is not dict:
        run.issues.append(issue("error", "structure",
                                "A primitive extension (_name) must be a JSON object", location))
        return
    if not ext:
        run.issues.append(issue("error", "invalid", "Object must have some content", location,
                                "ele-1"))
        return
    root = run.defs.type_root(tcode)
    if root is not None:
        walk_complex(ext, root, tcode, location, run)


def _named(ch, run: Run) -> dict:
    """Per JSON name of a node's children: (element, type code as given by the name, its
    value type, element-scope checks, value plan). Cached with the children."""
    named = run.defs.plans.get(ch)
    if named is None:
        named = run.defs.plans[ch] = {}
    return named


def _name_plan(named: dict, name: str, kid: tuple, run: Run) -> tuple:
    child, ct = kid
    tcode = ct or (child.types[0].code if len(child.types) == 1 else None)
    checks = _element_plan(child, run)
    # one value under one name satisfies these element checks: none, or a cardinality that
    # allows one value (the walk then skips the element scope for a single value)
    single = not checks or (checks == (cardinality,) and child.min <= 1 and (
        child.max is None or child.max >= 1))
    hit = named[name] = (child, ct, tcode, checks, _value_plan(child, tcode, run), single)
    return hit


def walk_complex(obj: dict, node: Node, tcode, location: str, run: Run,
                 is_resource: bool = False):
    """The children of an object: JSON names to element definitions, then each element's
    values (element-scope rules, then each value).

    Objects of one definition mostly come with the same JSON names (every Coding of a
    resource, every heart rate): the grouping of names into elements and the checks of the
    absent elements are a function of (the definition, the names), so they are computed once
    per shape and kept beside the name plans (`_shape`). A shape with a name that is unknown
    or not allowed is not kept: it takes the full path, which reports it."""
    ch = run.defs.children(node, tcode)
    named = _named(ch, run)
    key = (is_resource, *obj)
    shape = named.get(key)
    if shape is None:
        shape = _shape(obj, ch, named, run, is_resource)
        if shape is not None and len(named) < _MAX_SHAPES:
            named[key] = shape
    if shape is not None:
        absent, groups = shape
        for child, checks in absent:
            _apply(checks, NO_VALUES, child, None, location, run)
        _walk_groups(obj, groups, location, run)
        return
    _walk_complex_full(obj, ch, named, location, run, is_resource)


_MAX_SHAPES = 512  # shapes kept per definition (names plus shapes: bounded)


def _shape(obj: dict, ch, named: dict, run: Run, is_resource: bool):
    """(absent element checks, [(element, [(JSON name, name plan)])]) for the names of obj,
    or None when a name needs reporting."""
    groups: dict[Node, list] = {}
    for k in obj:
        hit = named.get(k)
        if hit is None:
            kid = ch.kids.get(k)
            if kid is not None:
                hit = _name_plan(named, k, kid, run)
        if hit is None:
            if k[:1] == "_":
                kid = ch.kids.get(k[1:])
                if kid is not None:
                    hit = named.get(k[1:]) or _name_plan(named, k[1:], kid, run)
                    if hit[2] in PRIMITIVES:
                        entry = (k[1:], hit)
                        names = groups.get(hit[0])
                        if names is None:
                            groups[hit[0]] = [entry]
                        elif entry not in names:
                            names.append(entry)
                        continue
            if is_resource and k == "resourceType":
                continue
            return None
        names = groups.get(hit[0])
        if names is None:
            groups[hit[0]] = [(k, hit)]
        elif (k, hit) not in names:
            names.append((k, hit))
    plans = run.defs.plans
    absent = []
    for child in ch.checked_absent:
        if child not in groups:
            checks = plans.get(child)
            if checks is None:
                checks = _element_plan(child, run)
            if checks:
                absent.append((child, checks))
    return tuple(absent), tuple((c, tuple(n)) for c, n in groups.items() if n)


def _walk_complex_full(obj: dict, ch, named: dict, location: str, run: Run,
                       is_resource: bool):
    issues = run.issues
    groups: dict[Node, list] = {}  # element -> [(JSON name, name plan)]; [] = disallowed type
    for k in obj:
        hit = named.get(k)
        if hit is None:
            kid = ch.kids.get(k)
            if kid is not None:
                hit = _name_plan(named, k, kid, run)
        if hit is None:
            if k[:1] == "_":
                kid = ch.kids.get(k[1:])
                if kid is not None:
                    hit = named.get(k[1:]) or _name_plan(named, k[1:], kid, run)
                    if hit[2] in PRIMITIVES:
                        entry = (k[1:], hit)
                        names = groups.get(hit[0])
                        if names is None:
                            groups[hit[0]] = [entry]
                        elif entry not in names:
                            names.append(entry)
                        continue
            if is_resource and k == "resourceType":
                continue
            choice = _choice_for(ch.kids, k)
            if choice is not None:
                # a type the (profiled) choice does not allow: one error, and the element
                # counts as present
                issues.append(issue("error", "structure",
                                    f"The type {k[len(choice.name):]} is not allowed for "
                                    f"{choice.path} (allowed: {', '.join(choice.type_codes)})",
                                    f"{location}.{k}", choice.source()))
                groups.setdefault(choice, [])
                continue
            issues.append(issue("error", "structure", f"Unrecognized property '{k}'",
                                f"{location}.{k}"))
            continue
        names = groups.get(hit[0])
        if names is None:
            groups[hit[0]] = [(k, hit)]
        elif (k, hit) not in names:
            names.append((k, hit))
    plans = run.defs.plans
    for child in ch.checked_absent:
        if child not in groups:
            checks = plans.get(child)
            if checks is None:
                checks = _element_plan(child, run)
            if checks:
                _apply(checks, NO_VALUES, child, None, location, run)
    _walk_groups(obj, [(c, n) for c, n in groups.items() if n], location, run)


_SCALARS = (str, bool, int, float)


def _walk_groups(obj: dict, groups, location: str, run: Run):
    for child, names in groups:
        name, hit = names[0]
        checks = hit[3]
        if hit[5] and len(names) == 1:
            val = obj.get(name)
            if val is not None:
                # one value: nothing of the element scope to check (hit[5]), no Values
                if val.__class__ is not list:
                    if not child.is_array:
                        vplan = hit[4]
                        fast = vplan[3]
                        if fast is not None and val.__class__ in _SCALARS and \
                                fast(val) is None and "_" + name not in obj:
                            continue
                        _walk_planned(val, obj.get("_" + name), child, hit[2],
                                      f"{location}.{name}", run, vplan)
                        continue
                elif len(val) == 1 and child.is_array and "_" + name not in obj:
                    item = val[0]
                    if item is not None:
                        vplan = hit[4]
                        fast = vplan[3]
                        if fast is not None and item.__class__ in _SCALARS and \
                                fast(item) is None:
                            continue
                        _walk_planned(item, None, child, hit[2], f"{location}.{name}[0]", run,
                                      vplan)
                        continue
        if checks and run.kept is not None and len(names) == 1 and child.is_array:
            # the values of an element with element-scope checks (slicing, cardinality):
            # the checks and the walk of every value are one verdict of the array's JSON
            val = obj.get(name)
            if val.__class__ is list and val and val[0].__class__ is dict and \
                    "_" + name not in obj:
                try:
                    text = _dumps(val)
                except TypeError:
                    text = None
                if text is not None and len(text) <= KEPT_MAX_TEXT:
                    key = (child, name, run._bundle is None, text, _GROUP)
                    _kept_walk(key, location, run, _walk_group, obj, child, names, location,
                               run)
                    continue
        _walk_group(obj, child, names, location, run)


_GROUP = "group"  # marks the key of an element's values (vs one value's)
_PRIM = "primitive"  # and of a primitive's


def _walk_group(obj: dict, child: Node, names, location: str, run: Run):
    """The element-scope checks of one element of obj, then each of its values."""
    hit = names[0][1]
    checks = hit[3]
    values = _values(obj, child, names, location, run)
    if checks:
        _apply(checks, values, child, None, location, run)
    items, exts, types, locs = values.items, values.exts, values.types, values.locations
    if len(names) == 1:
        vplan, tcode = hit[4], hit[2]
        fast = vplan[3]
        for i in range(len(items)):
            item = items[i]
            if fast is not None and exts[i] is None and item.__class__ in _SCALARS and \
                    fast(item) is None:
                continue
            _walk_planned(item, exts[i], child, tcode, locs[i], run, vplan)
    else:
        for i in range(len(items)):
            walk_value(items[i], exts[i], child, types[i], locs[i], run)


def _values(obj: dict, child: Node, names: list, location: str, run: Run) -> Values:
    if len(names) == 1:  # the usual case: one JSON name
        name, hit = names[0]
        tcode = hit[2]
        val = obj.get(name)
        if not child.is_array and val is not None and val.__class__ is not list:
            ext = obj.get("_" + name)
            return Values((val,), (ext,), (f"{location}.{name}",), (tcode,), (name,), _ONE)
        if val.__class__ is list and len(val) == 1 and val[0] is not None and \
                child.is_array and "_" + name not in obj:
            # one value in its array, no _name part: nothing of _items' shape checks applies
            return Values(val, _ONE_NONE, (f"{location}.{name}[0]",), (tcode,), (name,), _ONE)
        items, exts = _items(val, obj.get("_" + name), child, name, location, run,
                             tcode in PRIMITIVES)
        n = len(items)
        if n == 1:
            return Values(items, exts or _ONE_NONE,
                          (f"{location}.{name}[0]" if child.is_array else f"{location}.{name}",),
                          (tcode,), (name,), _ONE)
        return Values(items, exts or (None,) * n, _locations(location, name, n, child),
                      (tcode,) * n, (name,), (n,))
    all_items, all_exts, locs, types, used, counts = [], [], [], [], [], []
    for name, hit in names:
        tcode = hit[2]
        items, exts = _items(obj.get(name), obj.get("_" + name), child, name, location, run,
                             tcode in PRIMITIVES)
        n = len(items)
        used.append(name)
        counts.append(n)
        all_items += items
        all_exts += exts if exts else [None] * n
        types += [tcode] * n
        locs += _locations(location, name, n, child)
    return Values(all_items, all_exts, locs, types, used, counts)


_ONE_NONE = (None,)
_ONE = (1,)


def _locations(location: str, name: str, n: int, child: Node) -> list:
    if child.is_array:
        return [f"{location}.{name}[{i}]" for i in range(n)]
    return [f"{location}.{name}"] * n


def _items(val, ext, child: Node, name: str, location: str, run: Run, is_prim: bool):
    """The values of a JSON property (and its `_name` part) as lists, with the shape errors
    (array expected or not, empty arrays, nulls, arrays of different lengths)."""
    where = f"{location}.{name}"
    issues = run.issues
    if child.is_array:
        if val is not None and val.__class__ is not list:
            issues.append(issue("error", "structure",
                                f"The property {name} must be a JSON Array, not "
                                f"{'an Object' if isinstance(val, dict) else 'a Primitive property'}",
                                where))
            val = [val]
        if ext is not None and ext.__class__ is not list:
            issues.append(issue("error", "structure", f"The property _{name} must be a JSON Array",
                                where))
            ext = [ext]
        if val is not None and not val:
            issues.append(issue("error", "structure", "Array cannot be empty - the property "
                                "should not be present if it has no values", where))
        if ext is not None and not ext and val is None:
            issues.append(issue("error", "structure", "Array cannot be empty", where))
        vals = val or []
        exts = ext or []
        n = max(len(vals), len(exts))
        if exts and len(exts) != len(vals) and vals:
            issues.append(issue("error", "structure",
                                f"The arrays {name} and _{name} must have the same length",
                                where))
        if len(vals) < n:
            vals = vals + [None] * (n - len(vals))
        if exts:
            if len(exts) < n:
                exts = exts + [None] * (n - len(exts))
            for i in range(n):
                if vals[i] is None and exts[i] is None:
                    issues.append(issue("error", "structure",
                                        "Null values are not allowed in arrays", f"{where}[{i}]"))
            return vals, exts
        for i in range(n):
            if vals[i] is None:
                issues.append(issue("error", "structure", "Null values are not allowed in arrays",
                                    f"{where}[{i}]"))
        return vals, None
    if val.__class__ is list:
        issues.append(issue("error", "structure",
                            f"The property {name} must be "
                            f"{'a JSON primitive' if is_prim else 'an Object'}, not an Array",
                            where))
        return val, None
    if val is None and ext is None:
        issues.append(issue("error", "structure", f"The property {name} cannot be null", where))
        return [], None
    return [val], [ext] if ext is not None else None


def _choice_for(kids: dict, key: str):
    k = key.lstrip("_")
    for child, _t in kids.values():
        if child.choice and k.startswith(child.name) and k[len(child.name):][:1].isupper():
            return child
    return None
