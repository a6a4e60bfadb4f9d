"""Invariants: FHIRPath constraints compiled once (fhirpathpy) and cached by expression.

fhirpathpy does the real FHIRPath. The project supplies what it lacks (hasValue(), resolve()
inside the resource or bundle, htmlChecks(), conformsTo(), memberOf()) through fhirpathpy's
`userInvocationTable`. The hottest invariants (ele-1 on every element, ext-1 on every
extension) are checked natively by the walker; a cheap syntactic guard skips evaluating
invariants that are trivially true because the element they start from is absent
(`x.empty() or ...`, `x.exists() implies ...`, `x.where(...).empty()`, `x.all(...)`), which
is most of them on most instances. The Bundle invariants (bdl-*) have native versions with
fhirpathpy's semantics (NATIVE_FUNCTIONS), and resolve() inside a bundle uses an index built
once per validated bundle (BundleIndex).
"""
from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models as _fp_models

from .. import fhirpath_text

_MODEL = _fp_models["r4"]

# The resource (and enclosing bundle) being validated, for resolve() and %resource.
current_root: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_root", default=None)
current_bundle: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_bundle", default=None)
current_registry: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_registry", default=None)
# [bundle, BundleIndex | None] for the bundle being validated (the index is built on first use)
current_bundle_index: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_bundle_index",
                                                                      default=None)

# Checked natively by rules.check_constraints (they are on nearly every instance: every
# element, extension, Period, Reference, Quantity, resource).
# dom-3 also because fhirpathpy refuses its `descendants().as(canonical)` (as() on a
# collection), which the reference validator accepts.
NATIVE_KEYS = {"ele-1", "ext-1", "per-1", "ref-1", "qty-3", "dom-6", "dom-3"}
_NATIVE_MARKERS = {"ele-1": "hasValue()", "ext-1": "extension.exists()", "per-1": "start",
                   "ref-1": "startsWith('#')", "qty-3": "code.empty() or system.exists()",
                   "dom-6": "text.`div`.exists()", "dom-3": "contained.where("}


def _has_value(inputs):
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))


def _resolve_one(ref):
    if isinstance(ref, dict):
        ref = ref.get("reference")
    if not isinstance(ref, str):
        return None
    root = current_root.get()
    if ref.startswith("#"):
        if root is None:
            return None
        if ref == "#":
            return root
        for c in root.get("contained") or ():
            if isinstance(c, dict) and c.get("id") == ref[1:]:
                return c
        return None
    bundle = current_bundle.get()
    if bundle is None:
        return None
    holder = current_bundle_index.get()
    if holder is not None and holder[0] is bundle and isinstance(bundle.get("entry") or [], list):
        if holder[1] is None:
            holder[1] = BundleIndex(bundle)
        return holder[1].resolve(ref)
    return _scan_bundle(bundle, ref)


def _scan_bundle(bundle: dict, ref: str):
    """The entry resource a reference points to: the first entry whose fullUrl is the
    reference, whose resource is Type/id, or whose fullUrl ends with /reference."""
    for e in bundle.get("entry") or ():
        if not isinstance(e, dict):
            continue
        r = e.get("resource")
        if not isinstance(r, dict):
            continue
        if e.get("fullUrl") == ref:
            return r
        if f"{r.get('resourceType')}/{r.get('id')}" == ref or (
                isinstance(e.get("fullUrl"), str) and e["fullUrl"].endswith("/" + ref)):
            return r
    return None


class BundleIndex:
    """_scan_bundle as lookups: built once per validated bundle (the same first-match order),
    so resolving every reference of a bundle is linear rather than quadratic."""

    __slots__ = ("by_key",)

    def __init__(self, bundle: dict):
        by_key: dict[str, dict] = {}  # reference -> resource of the first entry it matches
        for e in bundle.get("entry") or ():
            if not isinstance(e, dict):
                continue
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            full = e.get("fullUrl")
            keys = [f"{r.get('resourceType')}/{r.get('id')}"]
            if isinstance(full, str):
                keys.append(full)
                p = full.find("/")
                while p >= 0:  # every reference `full` ends with after a "/"
                    keys.append(full[p + 1:])
                    p = full.find("/", p + 1)
            for k in keys:
                if k not in by_key:
                    by_key[k] = r
        self.by_key = by_key

    def resolve(self, ref: str):
        return self.by_key.get(ref)


def _resolve(inputs):
    out = []
    for i in inputs:
        r = _resolve_one(i)
        if r is not None:
            out.append(r)
    return out


def _html_checks(inputs):
    # The xhtml content rules (no scripts, no active content) are checked by the walker on
    # Narrative.div; here the invariant only needs a boolean.
    return [all(isinstance(i, str) and "<script" not in i.lower() for i in inputs)]


def _conforms_to(inputs, url):
    reg = current_registry.get()
    if reg is None or not inputs:
        return []
    from . import engine
    res = inputs[0]
    if not isinstance(res, dict):
        return [False]
    return [not any(i.is_error for i in engine.Engine.for_registry(reg).validate(res, (url,)))]


def _member_of(inputs, url):
    reg = current_registry.get()
    if reg is None or not inputs:
        return []
    exp = reg.expansion(url)
    if exp is None:
        return []
    v = inputs[0]
    codings = []
    if isinstance(v, str):
        return [any(v in codes for codes in exp["codes"].values())]
    if isinstance(v, dict):
        codings = v.get("coding") if "coding" in v else [v]
    for c in codings or ():
        if isinstance(c, dict) and c.get("code") in exp["codes"].get(c.get("system"), ()):
            return [True]
    return [False]


USER_FUNCTIONS = {
    "hasValue": {"fn": _has_value},
    "resolve": {"fn": _resolve},
    "htmlChecks": {"fn": _html_checks},
    "htmlchecks": {"fn": _html_checks},
    "conformsTo": {"fn": _conforms_to, "arity": {1: ["String"]}},
    "memberOf": {"fn": _member_of, "arity": {1: ["String"]}},
}
# trace() output (dom-3 uses it) is not for the console
_OPTIONS = {"userInvocationTable": USER_FUNCTIONS, "traceFn": lambda *a, **k: None}


# ------------------------------------------------------------------ guards
def _split_top(expr: str, op: str) -> list[str] | None:
    """Split on a top-level binary operator; None when it does not occur."""
    parts = fhirpath_text.split_top(expr, f" {op} ")
    return parts if len(parts) > 1 else None


_strip_parens = fhirpath_text.strip_parens


_CHAIN_HEAD = re.compile(r"^([a-z][A-Za-z0-9]*)\b")


def _chain(e: str) -> str | None:
    """The head identifier when `e` is one invocation chain with no top-level operators."""
    for op in ("or", "and", "implies", "xor", "|", "=", "!=", "<=", ">=", "<", ">", "+", "-",
               "in", "contains", "~", "!~"):
        if _split_top(e, op):
            return None
    m = _CHAIN_HEAD.match(e)
    if not m or m.group(1) in ("true", "false"):
        return None
    return m.group(1)


_SIMPLE_EXISTS = re.compile(r"^([a-z][A-Za-z0-9]*)\.exists\(\)$")


def _guard(expr: str):
    """A function present-names -> True when the expression is certainly true from which
    child elements are present alone; None when it has to be evaluated. Understands
    `a.empty()` / `a.exists().not()` / `a.where(..).empty()` / `a.all(..)` (true when a is
    absent), `a.exists()` (true when a is present), and or / and / implies of those."""
    e = _strip_parens(expr)
    parts = _split_top(e, "implies")
    if parts:
        if len(parts) != 2:
            return None
        left, right = _strip_parens(parts[0]), parts[1]
        rg = _guard(right)
        head = _chain(left)
        lg = (lambda present, h=head: h not in present) if head and left.endswith(
            (".exists()", ".hasValue()")) else None
        if lg is None and rg is None:
            return None
        return lambda present: True if ((lg is not None and lg(present)) or
                                        (rg is not None and rg(present))) else None
    for op in ("or", "and"):
        parts = _split_top(e, op)
        if not parts:
            continue
        subs = [_guard(p) for p in parts]
        if op == "or":
            real = [g for g in subs if g]
            if not real:
                return None
            return lambda present: True if any(g(present) for g in real) else None
        if not all(subs):
            return None
        return lambda present: True if all(g(present) for g in subs) else None
    m = _SIMPLE_EXISTS.match(e)
    if m:
        return lambda present, h=m.group(1): True if h in present else None
    head = _chain(e)
    if head and (e.endswith(".empty()") or e.endswith(".exists().not()") or _ends_with_all(e)):
        # absent head -> empty collection -> empty() is true, all() is true
        return lambda present, h=head: None if h in present else True
    return None


def _ends_with_all(e: str) -> bool:
    i = e.find(".all(")
    if i < 0 or not e.endswith(")"):
        return False
    depth = 0
    for j in range(i + 4, len(e)):
        depth += e[j] == "("
        depth -= e[j] == ")"
        if depth == 0:
            return j == len(e) - 1
    return False


# ------------------------------------------------------------------ native Bundle invariants
# The Bundle invariants walk every entry; evaluated by fhirpathpy over a whole transaction
# bundle they cost more than the rest of the validation of the bundle. They are computed
# natively here with the semantics fhirpathpy gives the exact core expressions (including its
# three-valued logic: an empty result is no violation, `all()` fails on an empty criterion).
# A native function returns True / False, or None when the instance has a shape it does not
# model (JSON nulls, `_x` primitive extensions, wrong JSON types): the expression is then
# evaluated by fhirpathpy as before. tests/unit/validation/test_native_invariants.py compares
# every one with fhirpathpy.
_ODD = object()  # a value shape the native functions leave to fhirpathpy


def _prim(obj: dict, key: str):
    """A string primitive child: its value, None when absent, _ODD otherwise."""
    if "_" + key in obj:
        return _ODD
    if key not in obj:
        return None
    v = obj[key]
    return v if isinstance(v, str) else _ODD


def _child(obj: dict, key: str):
    """A single complex child: the dict, None when absent, _ODD otherwise."""
    if "_" + key in obj:
        return _ODD
    if key not in obj:
        return None
    v = obj[key]
    return v if isinstance(v, dict) else _ODD


def _entries(bundle: dict):
    """Bundle.entry as a list of dicts ([] when absent), or None for another shape."""
    if "_entry" in bundle:
        return None
    es = bundle.get("entry", _ODD if "entry" in bundle else None)
    if es is None:
        return []
    if not isinstance(es, list) or not all(isinstance(e, dict) for e in es):
        return None
    return es


def _bdl_1(b, resource):
    # total.empty() or (type = 'searchset') or (type = 'history')
    if "_total" in b or ("total" in b and (b["total"] is None or isinstance(b["total"], (list, dict)))):
        return None
    if "total" not in b:
        return True
    t = _prim(b, "type")
    if t is _ODD:
        return None
    return t is None or t in ("searchset", "history")


def _bdl_2(b, resource):
    # entry.search.empty() or (type = 'searchset')
    es = _entries(b)
    if es is None:
        return None
    search = False
    for e in es:
        s = _child(e, "search")
        if s is _ODD:
            return None
        search = search or s is not None
    if not search:
        return True
    t = _prim(b, "type")
    if t is _ODD:
        return None
    return t is None or t == "searchset"


def _entries_all_exist(child: str, types: tuple):
    # entry.all(<child>.exists() = (%resource.type = 'a' or %resource.type = 'b' ...))
    def check(b, resource):
        es = _entries(b)
        if es is None or not isinstance(resource, dict):
            return None
        if not es:
            return True
        t = _prim(resource, "type")
        if t is _ODD:
            return None
        want = None if t is None else t in types
        for e in es:
            c = _child(e, child)
            if c is _ODD:
                return None
            if want is None or (c is not None) != want:
                return False  # an empty criterion fails all() too
        return True
    return check


def _bdl_7(b, resource):
    # (type = 'history') or entry.where(fullUrl.exists())
    #     .select(fullUrl&resource.meta.versionId).isDistinct()
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t == "history":
        return True
    es = _entries(b)
    if es is None:
        return None
    seen = set()
    distinct = True
    for e in es:
        full = _prim(e, "fullUrl")
        if full is _ODD:
            return None
        if full is None:
            continue
        vid = None
        res = _child(e, "resource")
        if res is _ODD:
            return None
        if res is not None:
            meta = _child(res, "meta")
            if meta is _ODD:
                return None
            if meta is not None:
                vid = _prim(meta, "versionId")
                if vid is _ODD:
                    return None
        k = full + (vid or "")
        if k in seen:
            distinct = False
        seen.add(k)
    # type absent: empty or false is empty, which is no violation
    return distinct or t is None


def _bdl_8(e, resource):
    # fullUrl.contains('/_history/').not()
    full = _prim(e, "fullUrl")
    if full is _ODD:
        return None
    return full is None or "/_history/" not in full


def _bdl_9(b, resource):
    # type = 'document' implies (identifier.system.exists() and identifier.value.exists())
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t != "document":
        return True
    ident = _child(b, "identifier")
    if ident is _ODD:
        return None
    if ident is None:
        return False
    sy, va = _prim(ident, "system"), _prim(ident, "value")
    if sy is _ODD or va is _ODD:
        return None
    return sy is not None and va is not None


def _bdl_10(b, resource):
    # type = 'document' implies (timestamp.hasValue())
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t != "document":
        return True
    ts = _prim(b, "timestamp")
    if ts is _ODD:
        return None
    return ts is not None


def _first_entry_is(btype: str, rtype: str):
    # type = '<btype>' implies entry.first().resource.is(<rtype>)
    def check(b, resource):
        t = _prim(b, "type")
        if t is _ODD:
            return None
        if t != btype:
            return True
        es = _entries(b)
        if es is None:
            return None
        if not es:
            return True  # empty implies: no violation
        res = _child(es[0], "resource")
        if res is _ODD or (res is not None and not isinstance(res.get("resourceType"), str)):
            return None
        return res is None or res["resourceType"] == rtype
    return check


# key -> (the core R4 expression it implements, the function); used only for that expression
NATIVE_FUNCTIONS: dict[str, tuple[str, Callable]] = {
    "bdl-1": ("total.empty() or (type = 'searchset') or (type = 'history')", _bdl_1),
    "bdl-2": ("entry.search.empty() or (type = 'searchset')", _bdl_2),
    "bdl-3": ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = "
              "'transaction' or %resource.type = 'history'))",
              _entries_all_exist("request", ("batch", "transaction", "history"))),
    "bdl-4": ("entry.all(response.exists() = (%resource.type = 'batch-response' or "
              "%resource.type = 'transaction-response' or %resource.type = 'history'))",
              _entries_all_exist("response", ("batch-response", "transaction-response",
                                              "history"))),
    "bdl-7": ("(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource."
              "meta.versionId).isDistinct()", _bdl_7),
    "bdl-8": ("fullUrl.contains('/_history/').not()", _bdl_8),
    "bdl-9": ("type = 'document' implies (identifier.system.exists() and "
              "identifier.value.exists())", _bdl_9),
    "bdl-10": ("type = 'document' implies (timestamp.hasValue())", _bdl_10),
    "bdl-11": ("type = 'document' implies entry.first().resource.is(Composition)",
               _first_entry_is("document", "Composition")),
    "bdl-12": ("type = 'message' implies entry.first().resource.is(MessageHeader)",
               _first_entry_is("message", "MessageHeader")),
}


def native_function(key: str, expression: str) -> Callable | None:
    hit = NATIVE_FUNCTIONS.get(key)
    if hit is None or " ".join(expression.split()) != hit[0]:
        return None
    return hit[1]


@dataclass
class Constraint:
    key: str
    severity: str
    human: str
    expression: str
    source: str
    type_path: str
    fn: Callable | None
    guard: Callable | None
    native: Callable | None = None  # (focus, resource) -> True / False / None (use fn)

    def evaluate(self, focus, present: frozenset | set | None, resource) -> bool | None:
        """True when satisfied, False when violated, None when it could not be evaluated."""
        if self.guard is not None and present is not None and self.guard(present):
            return True
        if self.native is not None:
            got = self.native(focus, resource)
            if got is not None:
                return got
        if self.fn is None:
            return None
        node = focus if isinstance(focus, dict) and "resourceType" in focus else \
            ResourceNode.create_node(focus, self.type_path)
        try:
            res = self.fn(node, {"resource": resource, "rootResource": resource})
        except Exception:  # unsupported function or engine error: not the instance's fault
            return None
        # violated only when the result is false; an empty result is not a violation
        if not res:
            return True
        return not (len(res) == 1 and res[0] is False)


@lru_cache(maxsize=4096)
def _compiled(expression: str):
    try:
        return fhirpathpy.compile(expression, _MODEL, _OPTIONS)
    except Exception:
        return None


@lru_cache(maxsize=4096)
def _guard_cached(expression: str):
    try:
        return _guard(expression)
    except Exception:
        return None


def compile_constraint(c: dict, path: str, sd_url: str) -> Constraint | None:
    key = c.get("key") or ""
    expr = c.get("expression")
    if not expr:
        return None
    # native only when the expression is the core one (a profile may reuse a key)
    native = key in NATIVE_KEYS and _NATIVE_MARKERS[key] in expr
    type_path = path.replace("[x]", "")
    return Constraint(
        key=key, severity=c.get("severity") or "error", human=c.get("human") or "",
        expression=expr, source=c.get("source") or sd_url, type_path=type_path,
        fn=None if native else _compiled(expr), guard=None if native else _guard_cached(expr),
        native=native_function(key, expr))
