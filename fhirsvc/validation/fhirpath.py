"""Invariants: FHIRPath constraints compiled once (fhirpathpy) and cached by expression.

fhirpathpy does the real FHIRPath. The project supplies what it lacks (hasValue(), resolve()
inside the resource or bundle, htmlChecks(), conformsTo(), memberOf()) through fhirpathpy's
`userInvocationTable`; they read the run they serve from context variables the walker sets
(this module imports nothing of the walker). The hottest invariants have native versions
(invariants.NATIVE, each beside the expression it replaces); a cheap syntactic guard skips
evaluating invariants that are trivially true because the element they start from is absent
(`x.empty() or ...`, `x.exists() implies ...`, `x.where(...).empty()`, `x.all(...)`), which
is most of them on most instances; resolve() inside a bundle uses an index built once per
validated bundle (BundleIndex). The compiled expressions and guards are pure functions of the
expression text, in bounded LRU caches.
"""
from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from .. import fhirpath_text
from .invariants import Native, native_for

# fhirpathpy (and its ANTLR parser and R4 model) is imported on the first expression that
# needs it: most validations need none (native invariants, guards), and the CLI's start-up
# does not pay for it
_FP: dict = {}


def _fhirpathpy():
    if not _FP:
        import fhirpathpy
        from fhirpathpy.engine.nodes import ResourceNode
        from fhirpathpy.models import models
        _FP.update(compile=fhirpathpy.compile, node=ResourceNode.create_node,
                   model=models["r4"])
    return _FP

# The resource (and enclosing bundle) being validated, for resolve() and %resource.
current_root: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_root", default=None)
current_bundle: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_bundle", default=None)
current_registry: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_registry", default=None)
# (resource, profile url) -> bool: whether a resource conforms to a profile, for conformsTo()
current_conformance: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_conformance",
                                                                     default=None)
# [bundle, BundleIndex | None] for the bundle being validated (the index is built on first use)
current_bundle_index: contextvars.ContextVar = contextvars.ContextVar("fhirsvc_fp_bundle_index",
                                                                      default=None)


def _has_value(inputs):
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))


def resolve_reference(ref):
    """The resource a reference (or Reference) points to in the run's resource ('#id') or
    bundle, else None."""
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

    __slots__ = ("by_key", "by_identity")

    def __init__(self, bundle: dict):
        by_key: dict[str, dict] = {}  # reference -> resource of the first entry it matches
        # Type/id -> every entry resource with it (several versions of one resource)
        by_identity: dict[str, list] = {}
        for e in bundle.get("entry") or ():
            if not isinstance(e, dict):
                continue
            r = e.get("resource")
            if not isinstance(r, dict):
                continue
            full = e.get("fullUrl")
            keys = [f"{r.get('resourceType')}/{r.get('id')}"]
            if isinstance(r.get("id"), str):
                by_identity.setdefault(keys[0], []).append(r)
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
        self.by_identity = by_identity

    def resolve(self, ref: str):
        return self.by_key.get(ref)


def bundle_versions(identity: str) -> list:
    """Every resource of the run's bundle with this Type/id (the versions it holds)."""
    bundle = current_bundle.get()
    if bundle is None:
        return []
    holder = current_bundle_index.get()
    if holder is not None and holder[0] is bundle:
        if holder[1] is None:
            holder[1] = BundleIndex(bundle)
        return holder[1].by_identity.get(identity, [])
    return BundleIndex(bundle).by_identity.get(identity, [])


def _resolve(inputs):
    out = []
    for i in inputs:
        r = resolve_reference(i)
        if r is not None:
            out.append(r)
    return out


def _html_checks(inputs):
    # The xhtml content rules (no scripts, no active content) are the narrative rule's
    # (rules/resources.py), which reports them once with a message of its own; txt-1 and
    # txt-2 (htmlChecks() on Narrative.div) hold for any string.
    return [all(isinstance(i, str) for i in inputs)]


def _conforms_to(inputs, url):
    conforms = current_conformance.get()
    if conforms is None or not inputs:
        return []
    res = inputs[0]
    if not isinstance(res, dict):
        return [False]
    return [bool(conforms(res, url))]


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


class NotEvaluable(Exception):
    """fhirpathpy cannot compile or evaluate a constraint (not the instance's fault)."""


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
    native: Native | None = None
    compile_error: str | None = None
    # the expression reads more than its focus: %resource / %rootResource, or resolve()
    # (the run's resource and bundle); the constraint rule reads the run's context for it
    context: bool = False

    def evaluate(self, focus, present: frozenset | set | None, resource) -> bool:
        """True when satisfied, False when violated; NotEvaluable when fhirpathpy cannot
        compile or run the expression."""
        if self.guard is not None and present is not None and self.guard(present):
            return True
        if self.native is not None:
            got = self.native.check(focus, resource)
            if got is not None:
                return got
        if self.fn is None:
            if self.compile_error:
                raise NotEvaluable(self.compile_error)
            # compiled on first need (a native constraint that met a shape it leaves to
            # fhirpathpy, or any other on its first evaluation past the guard)
            self.fn, self.compile_error = _compile(self.expression)
            if self.fn is None:
                raise NotEvaluable(self.compile_error)
        node = focus if isinstance(focus, dict) and "resourceType" in focus else \
            _fhirpathpy()["node"](focus, self.type_path)
        try:
            res = self.fn(node, {"resource": resource, "rootResource": resource})
        except Exception as exc:  # an engine limit, reported by the rule as such
            raise NotEvaluable(f"{type(exc).__name__}: {exc}"[:200]) from None
        # violated only when the result is false; an empty result is not a violation
        if not res:
            return True
        return not (len(res) == 1 and res[0] is False)


@lru_cache(maxsize=4096)
def _compile(expression: str) -> tuple[Callable | None, str | None]:
    try:
        fp = _fhirpathpy()
        return fp["compile"](expression, fp["model"], _OPTIONS), None
    except Exception as exc:  # fhirpathpy's parser raises several types
        return None, f"{type(exc).__name__}: {exc}"[:200]


def _compiled(expression: str):
    return _compile(expression)[0]


def syntax_error(expression: str) -> str | None:
    """Why a FHIRPath expression does not parse (None when it does)."""
    return _compile(expression)[1]


@lru_cache(maxsize=4096)
def _guard_cached(expression: str):
    try:
        return _guard(expression)
    except Exception:  # no guard is always correct: the expression is then evaluated
        return None


def compile_constraint(c: dict, path: str, sd_url: str) -> Constraint | None:
    key = c.get("key") or ""
    expr = c.get("expression")
    if not expr:
        return None
    # native only for the core expression (a profile may reuse a key); the FHIRPath is
    # compiled when an evaluation first needs it (Constraint.evaluate): a profile's many
    # invariants cost nothing until an instance reaches them past their guards
    native, guard, context = _parts(key, expr)
    return Constraint(
        key=key, severity=c.get("severity") or "error", human=c.get("human") or "",
        expression=expr, source=c.get("source") or sd_url, type_path=path.replace("[x]", ""),
        fn=None, guard=guard, native=native, compile_error=None, context=context)


@lru_cache(maxsize=4096)
def _parts(key: str, expression: str) -> tuple:
    """(native, guard, reads context) of a constraint: pure functions of its key and
    expression, the same on every element that carries it (ele-1 on all of them)."""
    native = native_for(key, expression)
    return native, None if native else _guard_cached(expression), reads_context(expression)


def reads_context(expression: str) -> bool:
    """Whether a FHIRPath expression reads more than its focus: the resource (%resource,
    %rootResource) or what resolve() finds in the resource or bundle."""
    return "%resource" in expression or "%rootResource" in expression or \
        "resolve(" in expression
