"""The rule table: one rule per ElementDefinition aspect, all with one signature.

    check(value, element, type_code, location, run) -> Iterable[Issue | Descend | Conforms]

- `element` is the compiled ElementDefinition (model.Node) the value is checked against, as
  its parent's definition names it (or the slice a `Descend` names); `type_code` the type the
  value has (from the JSON name of a choice, else the element's single type; None for a
  contentReference element); `location` the FHIRPath of the value; `run` the validation run
  (registry generation `run.reg`, compiled definitions `run.defs`, `run.root`, `run.bundle`).
- scope "element": `value` is a run.Values, every value of the element in one parent object
  (also for an absent element: no items); `location` is the parent's. Scope "value": `value`
  is one JSON value (None for a primitive given only by its `_name` part).
- `applies(element, type_code)` says, once per element and type (the walker caches the plan),
  whether the rule concerns the element at all, so the walk calls only the rules that can
  say something.

A rule never walks: the walker (walker.py) owns JSON shape, locations and descent, and runs the
`Descend` / `Conforms` instructions a rule yields. Rules read the run; they add to it only the
external code systems they could not check (`run.unchecked`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..definitions import is_open_extension
from ..primitives import PRIMITIVES
from .attachment import attachment
from .canonical import CANONICAL_TYPES, canonical_resource
from .constraints import constraint
from .extensions import extension
from .measure import measure_report
from .questionnaire import questionnaire_response
from .references import reference
from .resources import bundle, narrative
from .signature import signature
from .slicing import slicing
from .structure import cardinality, type_
from .terminology import additional_binding, binding, coding
from .values import fixed, max_length, min_max, pattern


@dataclass(frozen=True)
class Rule:
    aspect: str   # what of an ElementDefinition (or type) it checks
    scope: str    # "element" (the values of an element in its parent) or "value"
    applies: Callable[[object, str | None], bool]
    check: Callable


RULES: tuple[Rule, ...] = (
    # an element that is not an array in JSON holds one value at most (a JSON array there is
    # a shape error the walker reports), so only its min, a max of 0 or a choice can fail
    Rule("cardinality", "element",
         lambda el, t: el.min > 0 or el.choice or (
             el.max is not None and (el.is_array or el.max == 0)), cardinality),
    Rule("slicing", "element",
         lambda el, t: not el.choice and bool(el.slices or (el.slicing and
                                                            el.slicing.get("rules") == "closed")),
         slicing),
    Rule("type", "value", lambda el, t: True, type_),
    Rule("fixed", "value", lambda el, t: el.fixed is not None, fixed),
    Rule("pattern", "value", lambda el, t: el.pattern is not None, pattern),
    Rule("minValue/maxValue", "value",
         lambda el, t: el.min_value is not None or el.max_value is not None, min_max),
    Rule("maxLength", "value", lambda el, t: el.max_length is not None, max_length),
    Rule("binding", "value",
         lambda el, t: el.binding is not None and el.binding[0] in ("required", "extensible"),
         binding),
    Rule("additional binding", "value", lambda el, t: bool(el.additional_bindings),
         additional_binding),
    Rule("code system", "value", lambda el, t: t == "Coding", coding),
    Rule("reference", "value", lambda el, t: t == "Reference", reference),
    Rule("extension", "value", lambda el, t: t == "Extension" and is_open_extension(el),
         extension),
    Rule("attachment", "value", lambda el, t: t == "Attachment", attachment),
    Rule("signature", "value", lambda el, t: t == "Signature", signature),
    Rule("narrative", "value", lambda el, t: t == "Narrative", narrative),
    Rule("bundle", "value", lambda el, t: t == "Bundle", bundle),
    Rule("conformance resource", "value", lambda el, t: t in CANONICAL_TYPES,
         canonical_resource),
    Rule("measure report", "value", lambda el, t: t == "MeasureReport", measure_report),
    Rule("questionnaire response", "value", lambda el, t: t == "QuestionnaireResponse",
         questionnaire_response),
    # a primitive's type carries ele-1 only (native, always kept for a primitive): the rule
    # concerns a primitive when its element defines invariants of its own
    Rule("constraint", "value",
         lambda el, t: t not in PRIMITIVES or any(c.key != "ele-1" for c in el.constraints),
         constraint),
)


def plan(scope: str, element, type_code: str | None) -> tuple:
    """The checks of the rules of a scope that apply to an element and type, in table order."""
    return tuple(r.check for r in RULES if r.scope == scope and r.applies(element, type_code))


__all__ = ["RULES", "Rule", "plan"]
