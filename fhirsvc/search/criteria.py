"""A parsed search request: immutable, typed, every value already checked and normalised.

fhirsvc.search.parse builds these from `name=value` pairs (all 400s happen there); storage
(fhirsvc.storage.search) compiles `Criteria` into SQL and runs it; fhirsvc.search.bundle
builds the searchset from the rest.

A `Criteria` is a resource type and a tuple of clauses, all of which must hold (repeated
parameters AND). A `ParamClause` holds the alternatives of one occurrence (comma = OR), each a
typed match on rows of one index table (`kind`) under one index parameter code (`param`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Union

from ..outcomes import Issue

# -- one alternative of a parameter value --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """system None: any system; "": no system; a value: that system (or none at all when
    `or_no_system`: primitive codes carry no system, it is implied by the binding).
    code None: any code."""
    system: str | None
    code: str | None
    or_no_system: bool = False


@dataclass(frozen=True, slots=True)
class TokenIn:
    """One of `codes` in `system` (:in / :not-in through a ValueSet expansion, :below / :above
    through a code system hierarchy); `or_no_system` as TokenMatch's."""
    system: str
    codes: tuple[str, ...]
    or_no_system: bool = True


@dataclass(frozen=True, slots=True)
class TokenText:
    """:text: display/text starting with `text` (normalised; "" matches nothing)."""
    text: str


@dataclass(frozen=True, slots=True)
class TokenOfType:
    """:of-type: identifier type `type_system|type_code` and identifier value."""
    type_token: str
    value: str


@dataclass(frozen=True, slots=True)
class StringMatch:
    """mode prefix (default; "" matches everything), exact (normalised and raw text equal),
    contains, equal (normalised text equal: _filter eq) or suffix (_filter ew); `value` is
    normalised, `exact` the text as given."""
    mode: str
    value: str
    exact: str | None = None


@dataclass(frozen=True, slots=True)
class DateMatch:
    """R4 comparison `prefix` (eq ne gt lt ge le sa eb ap) against the search range
    [low, high] (inclusive microseconds UTC); `gap` widens the range for ap."""
    prefix: str
    low: int
    high: int
    gap: int = 0


@dataclass(frozen=True, slots=True)
class NumberMatch:
    """`prefix` against `value`; [low, high) is the implicit precision range (eq, ne)."""
    prefix: str
    value: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class QuantityMatch:
    """A number with an optional system and code; `code_or_unit`: the code may also match the
    unit (a code given without a system)."""
    number: NumberMatch
    system: str | None = None
    code: str | None = None
    code_or_unit: bool = False


@dataclass(frozen=True, slots=True)
class UriMatch:
    value: str
    below: bool = False


@dataclass(frozen=True, slots=True)
class UriIn:
    """:above on a uri: the stored value is one of `values` (the URL and its parents)."""
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """A local target (type may be None: any type) or an absolute / canonical url; `version`
    (`Patient/1/_history/2`): only references naming that version."""
    target_type: str | None = None
    target_id: str | None = None
    url: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceAny:
    """A composite's reference component given as one word: a target id or a url."""
    value: str


@dataclass(frozen=True, slots=True)
class Nothing:
    """No row can match (a `:Group` modifier on a `Patient/1` value)."""


@dataclass(frozen=True, slots=True)
class CompositeMatch:
    """First component a token (code1, optional system1), second a typed match."""
    system1: str | None
    code1: str
    second: "Value"


Value = Union[TokenMatch, TokenIn, TokenText, UriIn, TokenOfType, StringMatch, DateMatch, NumberMatch,
              QuantityMatch, UriMatch, ReferenceMatch, ReferenceAny, Nothing, CompositeMatch]

# -- clauses: one condition each on the searched resources ----------------------------------------


@dataclass(frozen=True, slots=True)
class ParamClause:
    """Rows of index table `kind` under `param` (for type `rtype`; None: any type) matching any
    of `values`; `negate` (:not): resources with no such row. `modifier` as requested."""
    name: str
    kind: str
    rtype: str | None
    param: str
    values: tuple[Value, ...]
    modifier: str | None = None
    negate: bool = False


@dataclass(frozen=True, slots=True)
class MissingClause:
    """:missing: resources with (missing=False) or without (True) any row under `param`."""
    name: str
    kind: str
    rtype: str | None
    param: str
    missing: bool


@dataclass(frozen=True, slots=True)
class DateAndClause:
    """A date parameter repeated with single values (`date=ge2015&date=lt2016`): every
    comparison holds on one row, or each holds on some row of a multi-valued resource."""
    rtype: str
    param: str
    matches: tuple[DateMatch, ...]


@dataclass(frozen=True, slots=True)
class IdClause:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastUpdatedClause:
    matches: tuple[DateMatch, ...]


@dataclass(frozen=True, slots=True)
class ConstantClause:
    """Always (True) or never (False): `_id:missing`."""
    value: bool


@dataclass(frozen=True, slots=True)
class TypesClause:
    """_type: the resource is one of `types`."""
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChainClause:
    """`param.tail=value`: a reference under `param` (of `rtype`) to a current
    resource of one of the target types satisfying that type's clause (itself a ChainClause
    for a chain of more than one level)."""
    rtype: str
    param: str
    targets: tuple[tuple[str, "Clause"], ...]


@dataclass(frozen=True, slots=True)
class HasClause:
    """`_has:source:ref:...=value`: a current `source` resource whose reference `ref` points
    at the searched resource and which satisfies `clause` (a HasClause for `_has` in `_has`)."""
    rtype: str
    source: str
    ref: str
    clause: "Clause"


@dataclass(frozen=True, slots=True)
class CompartmentClause:
    """Member of Patient/`patient_id`'s compartment through one of the reference `params`
    (for Patient: the patient itself, or patients linking to it)."""
    rtype: str
    patient_id: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OwnTargetsClause:
    """Every local reference under `params` points at a current member of Patient/
    `patient_id`'s compartment (`compartments`: type -> its compartment parameters; a Patient
    through `link`, or the patient itself). What a patient-limited caller may see of a record
    naming several patients' resources at once (fhirsvc.security.guard.OWN_TARGETS)."""
    rtype: str
    patient_id: str
    params: tuple[str, ...]
    compartments: tuple[tuple[str, tuple[str, ...]], ...]


class LimitedCompartment(tuple):
    """("Patient", id) as the guard narrows a patient-limited caller's search to it, with the
    reference parameters (`own_targets`) whose every target must be in that compartment
    too (OwnTargetsClause). A plain 2-tuple everywhere else."""
    own_targets: tuple[str, ...]

    def __new__(cls, ctype: str, cid: str, own_targets: tuple[str, ...] = ()):
        self = super().__new__(cls, (ctype, cid))
        self.own_targets = tuple(own_targets)
        return self


@dataclass(frozen=True, slots=True)
class TextQuery:
    """_text / _content search words: any of `groups` (OR), each a tuple of phrases that all
    occur (AND), each phrase a tuple of words in order (normalised as the index is,
    fhirsvc.search.text)."""
    groups: tuple[tuple[tuple[str, ...], ...], ...]


@dataclass(frozen=True, slots=True)
class TextClause:
    """_text (field "narrative": Resource.text) or _content (field "content": every text of
    the resource) matching `query`."""
    field: str
    query: TextQuery


@dataclass(frozen=True, slots=True)
class AnyClause:
    """_filter `or`: at least one of `clauses` holds."""
    clauses: tuple["Clause", ...]


@dataclass(frozen=True, slots=True)
class AllClause:
    """_filter `and` (inside an `or` or a `not`): every one of `clauses` holds."""
    clauses: tuple["Clause", ...]


@dataclass(frozen=True, slots=True)
class NotClause:
    """_filter `not (...)`: `clause` does not hold."""
    clause: "Clause"


Clause = Union[ParamClause, MissingClause, DateAndClause, IdClause, LastUpdatedClause,
               ConstantClause, TypesClause, ChainClause, HasClause, CompartmentClause,
               OwnTargetsClause, TextClause, AnyClause, AllClause, NotClause]


@dataclass(frozen=True, slots=True)
class Criteria:
    """Current, non-deleted resources of `rtype` (None: any type) satisfying every clause."""
    rtype: str | None
    clauses: tuple[Clause, ...] = ()


# -- the rest of a search request ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortKey:
    """`code` is _id, _lastUpdated or a parameter of `kind` (its index table)."""
    code: str
    descending: bool = False
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class IncludeSpec:
    """`_include` / `_revinclude` Type:param[:Target]; "*" for any type / parameter."""
    source: str
    param: str
    target: str | None = None
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    criteria: Criteria
    sort: tuple[SortKey, ...] = ()
    count: int = 20
    offset: int = 0
    includes: tuple[IncludeSpec, ...] = ()
    revincludes: tuple[IncludeSpec, ...] = ()
    total: str | None = None       # none | estimate | accurate; None: not asked
    summary: str | None = None     # true | text | data | count
    elements: tuple[str, ...] | None = None
    issues: tuple[Issue, ...] = ()  # warnings for ignored parameters
    link_params: tuple[tuple[str, str], ...] = ()  # what the self / next links repeat

    @property
    def rtype(self) -> str | None:
        return self.criteria.rtype

    @property
    def needs_total(self) -> bool:
        return self.total != "none" or self.summary == "count" or self.count == 0

    @property
    def exact_total(self) -> bool:
        """Whether the total must be exact however many match: asked for (`_total=accurate`)
        or the total is the whole answer (`_summary=count`, `_count=0`). Otherwise it is
        counted up to a cap (docs/search.md, Totals)."""
        return self.total == "accurate" or self.summary == "count" or self.count == 0

    @property
    def needs_entries(self) -> bool:
        return self.summary != "count" and self.count > 0


@dataclass(frozen=True, slots=True)
class EverythingQuery:
    """Patient/$everything: the compartment, optionally only `types` and changes `since`."""
    patient_id: str
    count: int
    offset: int = 0
    types: tuple[str, ...] | None = None
    since: int | None = None
    link_params: tuple[tuple[str, str], ...] = ()
