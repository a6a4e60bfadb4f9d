"""SearchParameter registry: the R4 core parameters (from the committed data file), the guide's
own parameters, and any added at run time; expressions compiled once per resource type."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from ..resource_types import RESOURCE_TYPES
from . import paths
from .element_types import implied_systems

DATA = Path(__file__).resolve().parent / "data" / "search_parameters.json.gz"
GUIDE_DIR = Path(__file__).resolve().parents[2] / "profiles" / "fsh-generated" / "resources"

# Parameters answered from the resources table or by the engine itself, never indexed.
ENGINE_PARAMS = {"_id", "_lastUpdated", "_text", "_content", "_query", "_list", "_has", "_type"}
INDEXED_TYPES = ("token", "string", "date", "reference", "quantity", "number", "uri",
                 "composite")


@dataclass
class SearchParam:
    url: str
    code: str
    type: str
    base: list[str]
    expression: str | None
    target: list[str] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    range_expansion: tuple[str, str] | None = None

    @classmethod
    def from_fhir(cls, sp: dict) -> "SearchParam":
        return cls(url=sp.get("url") or f"urn:search:{sp.get('code')}", code=sp["code"],
                   type=sp["type"], base=list(sp.get("base") or []),
                   expression=sp.get("expression"), target=list(sp.get("target") or []),
                   components=[dict(c) for c in sp.get("component") or []],
                   range_expansion=range_expansion(sp))


RANGE_EXPANSION = ("http://fhirsvc.org/fhir/calcinosis/StructureDefinition/"
                   "search-range-expansion")


@dataclass
class Compiled:
    """One parameter as it applies to one resource type."""
    param: SearchParam
    extract: Callable[[dict], list] | None
    # composite: [(element steps, component extractors)]
    composite: list | None = None
    component_types: tuple[str, ...] = ()
    # range expansion (token): extractor of the range extensions, and the code order
    ranges: Callable[[dict], list] | None = None
    order: list[tuple[str | None, str]] = field(default_factory=list)
    # the resource's JSON names one of which must be present for this parameter to index
    # anything (None: no such bound); extraction skips the parameter otherwise
    keys: frozenset[str] | None = None


def _union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    return None if a is None or b is None else a | b


def range_expansion(sp: dict) -> tuple[str, str] | None:
    """(range extension URL, order ValueSet URL) declared on a SearchParameter, if any."""
    for ext in sp.get("extension") or ():
        if ext.get("url") != RANGE_EXPANSION:
            continue
        subs = {e.get("url"): e for e in ext.get("extension") or ()}
        rng = subs.get("rangeExtension", {})
        order = subs.get("order", {})
        rng_url = rng.get("valueUri") or rng.get("valueCanonical") or rng.get("valueUrl")
        order_url = order.get("valueCanonical") or order.get("valueUri")
        if rng_url and order_url:
            return rng_url, order_url.split("|")[0]
    return None


def valueset_order(vs: dict) -> list[tuple[str | None, str]]:
    """The codes of a ValueSet in the order it lists them (expansion, else compose)."""
    if vs.get("expansion", {}).get("contains"):
        return [(c.get("system"), c["code"]) for c in vs["expansion"]["contains"]
                if c.get("code")]
    out = []
    for inc in vs.get("compose", {}).get("include") or ():
        for c in inc.get("concept") or ():
            if c.get("code"):
                out.append((inc.get("system"), c["code"]))
    return out


class SearchRegistry:
    def __init__(self, data: dict):
        # the one list of R4 resource types (fhirsvc.resource_types); the compiled search
        # data must agree with it (scripts/build_search_params.py generates both from R4)
        if set(data["resource_types"]) != RESOURCE_TYPES:
            raise ValueError("search parameter data and fhirsvc.resource_types disagree on the "
                             "R4 resource types: regenerate them (make definitions)")
        self.resource_types: list[str] = sorted(RESOURCE_TYPES)
        self.choices: dict[str, list[str]] = data["choice_paths"]
        self.compartments: dict[str, dict[str, list[str]]] = data["compartments"]
        self._by_url: dict[str, SearchParam] = {}
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        self._compiled: dict[str, list[Compiled]] = {}
        self._compiled_one: dict[tuple[str, str], Compiled | None] = {}
        # (type, code) -> whether `system|code` also matches rows without a system, under the
        # StructureDefinitions generation `_implied_gen` (system_implied)
        self._implied: dict[tuple[str, str], frozenset | bool] = {}
        self._implied_gen: object = None
        self.valuesets: dict[str, dict] = {}
        for sp in data["params"]:
            self._register(SearchParam.from_fhir(sp))

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, extra: Iterable[dict] = (), guide_dir: Path | str | None = GUIDE_DIR
             ) -> "SearchRegistry":
        """Core parameters + the guide's SearchParameter-*.json + `extra` definitions."""
        reg = cls(json.loads(gzip.decompress(DATA.read_bytes())))
        if guide_dir is not None and Path(guide_dir).is_dir():
            for f in sorted(Path(guide_dir).glob("ValueSet-*.json")):
                try:
                    reg.add_valueset(json.loads(f.read_text()))
                except ValueError:
                    continue
            for f in sorted(Path(guide_dir).glob("SearchParameter-*.json")):
                try:
                    sp = json.loads(f.read_text())
                except ValueError:
                    continue
                if sp.get("resourceType") == "SearchParameter" and sp.get("code"):
                    reg.add(sp)
        for sp in extra:
            reg.add(sp)
        return reg

    def add(self, sp: dict) -> SearchParam:
        """Register (or replace, by url or by base+code) a SearchParameter resource."""
        param = SearchParam.from_fhir(sp)
        self._register(param)
        self._compiled.clear()
        self._compiled_one.clear()
        self._implied.clear()
        return param

    def add_valueset(self, vs: dict) -> None:
        """ValueSets whose code order a range-expanding SearchParameter may name."""
        if vs.get("resourceType") == "ValueSet" and vs.get("url"):
            self.valuesets[vs["url"]] = vs
            self._compiled.clear()
            self._compiled_one.clear()
            self._implied.clear()

    def urls(self) -> list[str]:
        return list(self._by_url)

    def remove(self, url: str | None) -> None:
        """Unregister a stored SearchParameter (deleted through the API); a parameter it
        shadowed by base and code comes back."""
        param = self._by_url.pop(url, None) if url else None
        if param is None:
            return
        for b in param.base:
            by_code = self._by_type.get(b, {})
            if by_code.get(param.code) is param:
                by_code.pop(param.code)
                other = next((p for p in self._by_url.values()
                              if b in p.base and p.code == param.code), None)
                if other is not None:
                    by_code[param.code] = other
        self._compiled.clear()
        self._compiled_one.clear()
        self._implied.clear()

    def remove_valueset(self, url: str | None) -> None:
        if url and self.valuesets.pop(url, None) is not None:
            self._compiled.clear()
            self._compiled_one.clear()
            self._implied.clear()

    def _register(self, param: SearchParam) -> None:
        old = self._by_url.get(param.url)
        if old is not None:
            for b in old.base:
                self._by_type.get(b, {}).pop(old.code, None)
        self._by_url[param.url] = param
        for b in param.base:
            self._by_type.setdefault(b, {})[param.code] = param

    # -- lookup --------------------------------------------------------------------------------
    def is_type(self, rtype: str) -> bool:
        return rtype in RESOURCE_TYPES

    def by_url(self, url: str) -> SearchParam | None:
        return self._by_url.get(url)

    def params_for(self, rtype: str) -> dict[str, SearchParam]:
        out: dict[str, SearchParam] = {}
        out.update(self._by_type.get("Resource", {}))
        if rtype not in ("Bundle", "Binary", "Parameters"):
            out.update(self._by_type.get("DomainResource", {}))
        out.update(self._by_type.get(rtype, {}))
        return out

    def get(self, rtype: str, code: str) -> SearchParam | None:
        p = self._by_type.get(rtype, {}).get(code)
        if p is None:
            p = self._by_type.get("Resource", {}).get(code)
        if p is None:
            p = self._by_type.get("DomainResource", {}).get(code)
        return p

    def patient_compartment(self, rtype: str) -> list[str]:
        return self.compartments.get("Patient", {}).get(rtype, [])

    # -- compiled extractors ---------------------------------------------------------------------
    def compiled(self, rtype: str) -> list[Compiled]:
        """Every indexable parameter of `rtype`, compiled (cached)."""
        got = self._compiled.get(rtype)
        if got is None:
            got = []
            for code, param in sorted(self.params_for(rtype).items()):
                c = self.compiled_param(rtype, code)
                if c is not None:
                    got.append(c)
            self._compiled[rtype] = got
        return got

    def compiled_param(self, rtype: str, code: str) -> Compiled | None:
        key = (rtype, code)
        if key in self._compiled_one:
            return self._compiled_one[key]
        param = self.get(rtype, code)
        out = None
        if (param is not None and param.code not in ENGINE_PARAMS and param.expression
                and param.type in INDEXED_TYPES):
            if param.type == "composite":
                out = self._compile_composite(rtype, param)
            else:
                fn = paths.compile_expression(param.expression, rtype, self.choices)
                out = Compiled(param, fn) if fn is not None else None
                if out is not None and param.range_expansion and param.type == "token":
                    self._compile_ranges(rtype, out)
                if out is not None:
                    out.keys = _union(fn.keys, out.ranges.keys if out.ranges else frozenset())
        self._compiled_one[key] = out
        return out

    def system_implied(self, rtype: str, code: str, structures) -> frozenset | bool:
        """The systems `code=system|value` on `rtype` may also match values without a system
        in: only primitives (`Patient.gender`, a status `code`, a boolean) carry none, their
        system implied by the binding, so `gender=<administrative-gender>|male` matches. An
        Identifier, Coding, CodeableConcept or ContactPoint without a system never matches a
        given system (an identifier `sys|MRN` must not find a Patient whose MRN has none).
        False: no system implied; True: any (a primitive whose system cannot be told: a
        boolean, an unbound code, a member the definitions cannot type such as a FHIRPath
        fallback); else the code systems of the required bindings. Decided from the
        StructureDefinitions in `structures` (fhirsvc.definitions) at query time, so no
        reindex is needed; kept per (type, code) until the parameters or they change."""
        gen = getattr(structures, "generation", None)
        if gen != self._implied_gen:
            self._implied = {}
            self._implied_gen = gen
        key = (rtype, code)
        got = self._implied.get(key)
        if got is None:
            got = self._system_implied(rtype, code, structures)
            self._implied[key] = got
        return got

    def _system_implied(self, rtype: str, code: str, structures) -> frozenset | bool:
        param = self.get(rtype, code)
        if param is None or not param.expression:
            return True
        systems: set[str] = set()
        primitive = False
        for part in paths.parts_for_type(param.expression, rtype):
            steps = paths.member_steps(part, rtype, self.choices)
            got = None if steps is None else implied_systems(structures, rtype, steps)
            if got is None or got is True:
                return True
            if got is not False:
                primitive = True
                systems |= got
        return frozenset(systems) if primitive else False

    def _compile_ranges(self, rtype: str, comp: Compiled) -> None:
        """The members of the expression that reach the range extension, cut just after
        `extension('<range url>')`, yield the range elements (start/end sub-extensions)."""
        rng_url, order_url = comp.param.range_expansion
        vs = self.valuesets.get(order_url)
        if vs is None:
            return
        call = f"extension('{rng_url}')"
        prefixes = []
        for part in paths.parts_for_type(comp.param.expression or "", rtype):
            part = paths.strip_parens(part)
            if call in part:
                prefixes.append(part[:part.index(call) + len(call)])
        if prefixes:
            comp.ranges = paths.compile_expression(" | ".join(sorted(set(prefixes))), rtype,
                                                   self.choices)
            comp.order = valueset_order(vs)

    def _compile_composite(self, rtype: str, param: SearchParam) -> Compiled | None:
        if len(param.components) != 2:
            return None  # only two-component composites (every core one but MolecularSequence)
        roots = paths.element_roots(param.expression or "", rtype, self.choices)
        if not roots:
            return None
        types = []
        for comp in param.components:
            cp = self._by_url.get(comp["definition"])
            if cp is None:
                return None
            types.append(cp.type)
        if types[0] != "token" or types[1] not in ("token", "quantity", "date", "string",
                                                    "reference", "uri", "number"):
            return None
        members = []
        keys: frozenset[str] | None = frozenset()
        for steps, path in roots:
            comps = [paths.compile_relative(c["expression"], path, self.choices)
                     for c in param.components]
            members.append((steps, comps))
            # a member rooted at the resource itself yields only where its first component
            # does (a row needs both components)
            keys = _union(keys, paths.first_keys(steps) if steps else comps[0].keys)
        return Compiled(param, None, members, tuple(types), keys=keys)
