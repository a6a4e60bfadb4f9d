"""SearchParameter registry: the R4 core parameters (from the committed data file), the guide's
own parameters, and any added at run time; expressions compiled once per resource type."""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import paths

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

    @classmethod
    def from_fhir(cls, sp: dict) -> "SearchParam":
        return cls(url=sp.get("url") or f"urn:search:{sp.get('code')}", code=sp["code"],
                   type=sp["type"], base=list(sp.get("base") or []),
                   expression=sp.get("expression"), target=list(sp.get("target") or []),
                   components=[dict(c) for c in sp.get("component") or []])


@dataclass
class Compiled:
    """One parameter as it applies to one resource type."""
    param: SearchParam
    extract: Callable[[dict], list] | None
    # composite: [(element steps, component extractors)]
    composite: list | None = None
    component_types: tuple[str, ...] = ()


class SearchRegistry:
    def __init__(self, data: dict):
        self.resource_types: list[str] = list(data["resource_types"])
        self._type_set = set(self.resource_types)
        self.choices: dict[str, list[str]] = data["choice_paths"]
        self.compartments: dict[str, dict[str, list[str]]] = data["compartments"]
        self._by_url: dict[str, SearchParam] = {}
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        self._compiled: dict[str, list[Compiled]] = {}
        self._compiled_one: dict[tuple[str, str], Compiled | None] = {}
        for sp in data["params"]:
            self._register(SearchParam.from_fhir(sp))

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, extra: Iterable[dict] = (), guide_dir: Path | str | None = GUIDE_DIR
             ) -> "SearchRegistry":
        """Core parameters + the guide's SearchParameter-*.json + `extra` definitions."""
        reg = cls(json.loads(gzip.decompress(DATA.read_bytes())))
        if guide_dir is not None and Path(guide_dir).is_dir():
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
        return param

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
        return rtype in self._type_set

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
        self._compiled_one[key] = out
        return out

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
        for steps, path in roots:
            comps = [paths.compile_relative(c["expression"], path, self.choices)
                     for c in param.components]
            members.append((steps, comps))
        return Compiled(param, None, members, tuple(types))
