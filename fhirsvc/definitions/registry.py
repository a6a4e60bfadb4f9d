"""The definitions registry: R4 core + guide + --ig packages + resources stored through REST.

Everything is indexed by canonical URL (and `url|version`). The registry is a sequence of
generations (`RegistryState`): a state is never changed once published, apart from the caches
it fills on demand (snapshots, expansions, code sets, `structure_memo`). `Registry.add` builds
the next state off to the side, copying only the indexes it changes, and publishes it with one
reference assignment; a validation takes `registry.state` once and sees one consistent
generation however many resources other threads add meanwhile.

Failures are not swallowed: a file that cannot be read or parsed, or a differential-only
profile whose snapshot cannot be generated, raises `DefinitionsError` naming the file from
`load_path` / `load_guide` (nothing of that load is published). A StructureDefinition added one
at a time (stored through the API) keeps its snapshot failure for the validator to report.
"""
from __future__ import annotations

import gzip
import json
import tarfile
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Iterable

import orjson

from .compact import compact_sd
from .snapshot import generate_snapshot
from .terminology import compact_cs, cs_rule_facts, expand_valueset

DATA = Path(__file__).resolve().parent / "data" / "r4core.json.gz"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"

# metadata of NPM packages, not conformance resources
_PACKAGE_FILES = ("package.json", ".index.json")


class DefinitionsError(Exception):
    """A conformance file or definition that cannot be used; the message names it and why."""


class SnapshotError(DefinitionsError):
    """The snapshot of a StructureDefinition cannot be generated."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"the snapshot of {url} cannot be generated: {reason}")
        self.url = url
        self.reason = reason


class RegistryState:
    """One generation of the registry. Indexes are read-only once published; the caches are
    filled on demand and belong to this generation (a newer one starts its own, except the
    structure caches, which it keeps while no StructureDefinition changed)."""

    def __init__(self, generation: int, sds: dict, cs: dict, vs_expansions: dict,
                 valuesets: dict, global_profiles: dict, guide_profiles_by_type: dict,
                 by_type: dict, core_urls: frozenset, structures: "_StructureCaches | None" = None,
                 expansions: dict | None = None, canonicals: dict | None = None):
        self.generation = generation
        self.sds = sds
        self.cs = cs
        self.vs_expansions = vs_expansions
        self.valuesets = valuesets
        self.global_profiles = global_profiles
        self.guide_profiles_by_type = guide_profiles_by_type
        self.by_type = by_type
        self.core_urls = core_urls
        self._structures = structures or _StructureCaches()
        self._expansions: dict = expansions if expansions is not None else {}
        self._cs_sets: dict = {}
        # other canonical resources rules look up (Questionnaire): url and url|version ->
        # resource, kept as they came
        self.canonicals: dict = canonicals if canonicals is not None else {}

    def canonical(self, rtype: str, url: str | None) -> dict | None:
        """A Questionnaire (or other indexed canonical resource) by url or url|version."""
        if not isinstance(url, str):
            return None
        got = self.canonicals.get(url)
        if got is None and "|" in url:
            got = self.canonicals.get(url.split("|", 1)[0])
        return got if got is not None and got.get("resourceType") == rtype else None

    # ---------------------------------------------------------------- structure lookups
    def sd(self, url: str | None) -> dict | None:
        if not url:
            return None
        got = self.sds.get(url)
        if got is None and "|" in url:
            got = self.sds.get(url.split("|")[0])
        return got

    def type_url(self, type_code: str) -> str:
        if type_code.startswith("http"):
            return type_code
        return self.by_type.get(type_code) or CORE_PREFIX + type_code

    def type_sd(self, type_code: str) -> dict | None:
        return self.sds.get(self.type_url(type_code))

    def is_resource_type(self, name: str) -> bool:
        sd = self.sds.get(CORE_PREFIX + name)
        return bool(sd and sd.get("kind") == "resource" and sd.get("derivation") != "constraint")

    def snapshot(self, url: str) -> list | None:
        """Snapshot elements of a StructureDefinition (None when it is unknown), generated from
        its differential when it has none (profiles of profiles too). Raises SnapshotError."""
        caches = self._structures
        cached = caches.snapshots.get(url)
        if cached is not None:
            return cached
        sd = self.sd(url)
        if sd is None:
            return None
        if sd.get("elements"):
            caches.snapshots[url] = sd["elements"]
            return sd["elements"]
        failed = caches.errors.get(url)
        if failed is not None:
            raise SnapshotError(url, failed)
        # one thread generates; the others wait and find the result. `building` guards the
        # recursion (a profile based on itself) and is never seen outside the lock.
        with caches.lock:
            cached = caches.snapshots.get(url)
            if cached is not None:
                return cached
            if url in caches.building:
                return None
            caches.building.add(url)
            try:
                elements = generate_snapshot(sd, self)
            except SnapshotError as exc:
                reason = f"{exc.url}, which it builds on, fails ({exc.reason})" \
                    if exc.url != url else exc.reason
                caches.errors[url] = reason
                raise SnapshotError(url, reason) from None
            except Exception as exc:  # any defect of the definition, recorded and raised
                caches.errors[url] = str(exc) or type(exc).__name__
                raise SnapshotError(url, caches.errors[url]) from None
            finally:
                caches.building.discard(url)
            caches.snapshots[url] = elements
        return elements

    def structure_memo(self, name: str, factory: Callable[["RegistryState"], object]):
        """A cache derived from the StructureDefinitions of this state (e.g. the validator's
        compiled profiles): made once by `factory(state)` and kept while they do not change."""
        memo = self._structures.memo
        got = memo.get(name)
        if got is None:
            with self._structures.lock:
                got = memo.get(name)
                if got is None:
                    got = memo[name] = factory(self)
        return got

    # ---------------------------------------------------------------- terminology lookups
    def expansion(self, url: str | None) -> dict | None:
        """{"codes": {system: frozenset(code)}, "open": frozenset(system)} or None when the
        value set is unknown."""
        if not url:
            return None
        base = url.split("|")[0]
        hit = self._expansions.get(base)
        if hit is not None:
            return hit or None
        exp = None
        if base in self.valuesets:
            exp = expand_valueset(base, self.valuesets, self.cs)
        elif base in self.vs_expansions:
            exp = self.vs_expansions[base]
        if exp is None:
            self._expansions[base] = {}
            return None
        out = {"codes": {s: frozenset(c) for s, c in exp["codes"].items()},
               "open": frozenset(exp["open"])}
        self._expansions[base] = out
        return out

    def codesystem(self, url: str | None) -> dict | None:
        """The compact code system with `_set` (its codes as a frozenset), or None."""
        if not url:
            return None
        hit = self._cs_sets.get(url)
        if hit is not None:
            return hit
        cs = self.cs.get(url) or self.cs.get(url.split("|")[0])
        if cs is None:
            return None
        out = dict(cs, _set=frozenset(cs["codes"]))
        self._cs_sets[url] = out
        return out


class _StructureCaches:
    """What a state derives from its StructureDefinitions; shared by the states that follow
    while no StructureDefinition changes."""

    def __init__(self):
        self.lock = threading.RLock()
        self.snapshots: dict[str, list] = {}
        self.errors: dict[str, str] = {}
        self.building: set[str] = set()
        self.memo: dict[str, object] = {}


class _Draft:
    """The next state being built: each index is copied on its first change."""

    def __init__(self, base: RegistryState):
        self.base = base
        self.sds, self.cs, self.valuesets = base.sds, base.cs, base.valuesets
        self.global_profiles = base.global_profiles
        self.guide_profiles_by_type = base.guide_profiles_by_type
        self.by_type = base.by_type
        self.canonicals = base.canonicals
        self._copied: set[str] = set()
        self.added_sds: list[str] = []  # urls of the StructureDefinitions added, in order

    def _own(self, name: str) -> dict:
        if name not in self._copied:
            setattr(self, name, dict(getattr(self, name)))
            self._copied.add(name)
        return getattr(self, name)

    def add(self, resource: dict) -> bool:
        rt = resource.get("resourceType") if isinstance(resource, dict) else None
        if rt == "Bundle":
            added = False
            for e in resource.get("entry") or ():
                if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                    added = self.add(e["resource"]) or added
            return added
        url = resource.get("url") if rt else None
        if not isinstance(url, str):
            url = None
        if rt == "StructureDefinition" and url:
            _put(self._own("sds"), url, resource.get("version"), compact_sd(resource))
            self.added_sds.append(url)
        elif rt == "CodeSystem" and url:
            _put(self._own("cs"), url, resource.get("version"),
                 {**compact_cs(resource), **cs_rule_facts(resource)})
        elif rt == "ValueSet" and url:
            _put(self._own("valuesets"), url, resource.get("version"), resource)
        elif rt in CANONICAL_TYPES and url:
            _put(self._own("canonicals"), url, resource.get("version"), resource)
        elif rt == "ImplementationGuide":
            for g in resource.get("global") or ():
                if isinstance(g, dict) and g.get("type") and g.get("profile"):
                    gp = self._own("global_profiles")
                    have = gp.get(g["type"], ())
                    if g["profile"] not in have:
                        gp[g["type"]] = tuple(have) + (g["profile"],)
        else:
            return False
        return True

    def remove(self, resource: dict) -> bool:
        """Forget a StructureDefinition, CodeSystem or ValueSet (by url and url|version)."""
        index = {"StructureDefinition": "sds", "CodeSystem": "cs",
                 "ValueSet": "valuesets"}.get(resource.get("resourceType"))
        url = resource.get("url")
        if index is None or not isinstance(url, str):
            return False
        keys = [url] + ([f"{url}|{resource['version']}"] if resource.get("version") else [])
        if not any(k in getattr(self, index) for k in keys):
            return False
        own = self._own(index)
        for k in keys:
            own.pop(k, None)
        return True

    def set_guide_profiles(self, by_type: dict[str, list[str]]):
        own = self._own("guide_profiles_by_type")
        for t, urls in by_type.items():
            own[t] = tuple(urls)

    def publish(self) -> RegistryState:
        b = self.base
        structures_changed = "sds" in self._copied
        terminology_changed = "cs" in self._copied or "valuesets" in self._copied
        return RegistryState(
            b.generation + 1, self.sds, self.cs, b.vs_expansions, self.valuesets,
            self.global_profiles, self.guide_profiles_by_type, self.by_type, b.core_urls,
            structures=None if structures_changed else b._structures,
            expansions=None if terminology_changed else b._expansions,
            canonicals=self.canonicals)


# canonical resources indexed for rules (beside StructureDefinitions and terminology)
CANONICAL_TYPES = ("Questionnaire", "Measure")


def _put(index: dict, url: str, version: str | None, value):
    index[url] = value
    if version:
        index[f"{url}|{version}"] = value


def _index_types(sds: dict) -> dict[str, str]:
    by_type: dict[str, str] = {}
    for url, sd in sds.items():
        if sd.get("derivation") != "constraint" and sd.get("kind") != "logical" \
                and url.startswith(CORE_PREFIX):
            by_type.setdefault(sd["type"], url)
    return by_type


class Registry:
    """The current generation (`state`) and the ways to make the next one. Writers are
    serialised; readers never wait."""

    def __init__(self, load_core: bool = True, *, _state: RegistryState | None = None):
        self._write_lock = threading.Lock()
        if _state is not None:
            self._state = _state
            return
        sds: dict = {}
        cs: dict = {}
        vs: dict = {}
        if load_core:
            core = orjson.loads(gzip.decompress(DATA.read_bytes()))
            sds, cs, vs = core["sd"], core["cs"], core["vs"]
            for c in cs.values():  # the R4 package's copies (THO ones are of 2019)
                c["_core"] = True
        self._state = RegistryState(0, sds, cs, vs, {}, {}, {}, _index_types(sds),
                                    frozenset(sds))

    @property
    def state(self) -> RegistryState:
        """The current generation: take it once per validation for a consistent view."""
        return self._state

    @property
    def generation(self) -> int:
        return self._state.generation

    def fork(self) -> "Registry":
        """A registry starting from the current state whose additions stay its own (the
        conformance runner gives every test case one)."""
        return Registry(_state=self._state)

    # ---------------------------------------------------------------- the next generation
    def add(self, resource: dict) -> bool:
        """Index one conformance resource (StructureDefinition, ValueSet, CodeSystem,
        ImplementationGuide); Bundles are walked. Returns True when something was added."""
        return self.add_all([resource]) > 0

    def add_all(self, resources: Iterable[dict]) -> int:
        """Add several resources as one new generation. Returns how many were indexed."""
        with self._write_lock:
            draft = _Draft(self._state)
            n = sum(1 for r in resources if draft.add(r))
            if n:
                self._state = draft.publish()
        return n

    def remove(self, resource: dict) -> bool:
        """A new generation without this conformance resource (deleted through the API)."""
        with self._write_lock:
            draft = _Draft(self._state)
            if not draft.remove(resource):
                return False
            self._state = draft.publish()
        return True

    def set_guide_profiles(self, by_type: dict[str, list[str]]) -> None:
        """The guide's profiles per resource type (required in strict validation)."""
        with self._write_lock:
            draft = _Draft(self._state)
            draft.set_guide_profiles(by_type)
            self._state = draft.publish()

    def load_path(self, path: str | Path) -> int:
        """Load conformance resources from a JSON file, a folder (recursively) or an NPM
        package .tgz, as one generation. Every differential-only StructureDefinition must
        produce a snapshot. Raises DefinitionsError naming the file; returns how many
        resources were indexed."""
        items = list(_read_path(Path(path), self._state))
        with self._write_lock:
            draft = _Draft(self._state)
            n = 0
            added_sds = []  # (label of the file, url)
            for label, res in items:
                before = len(draft.added_sds)
                try:
                    n += draft.add(res)
                except Exception as exc:  # a definition the indexes cannot take
                    raise DefinitionsError(f"{label}: cannot be indexed "
                                           f"({type(exc).__name__}: {exc})") from None
                added_sds += [(label, url) for url in draft.added_sds[before:]]
            if not n:
                return 0
            state = draft.publish()
            for label, url in added_sds:
                try:
                    state.snapshot(url)
                except SnapshotError as exc:
                    raise DefinitionsError(f"{label}: {exc}") from None
            self._state = state
        return n

    def load_guide(self, root: Path | None = None) -> int:
        """The project's guide: profiles/fsh-generated/resources/*.json and profiles/guide.json
        (canonical + profilesByType). A missing guide is fine; a broken one raises
        DefinitionsError naming the file."""
        root = Path(root) if root is not None else REPO_ROOT / "profiles"
        n = 0
        res_dir = root / "fsh-generated" / "resources"
        if res_dir.is_dir():
            n += self.load_path(res_dir)
        guide = root / "guide.json"
        if guide.is_file():
            try:
                g = json.loads(guide.read_text(encoding="utf-8"))
                by_type = {t: list(urls if isinstance(urls, list) else [urls])
                           for t, urls in (g.get("profilesByType") or {}).items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise DefinitionsError(f"{guide}: cannot be read as the guide's description "
                                       f"({exc})") from None
            self.set_guide_profiles(by_type)
        return n

    # ---------------------------------------------------------------- lookups (current state)
    # read-only views: a state is changed only by building the next one
    @property
    def sds(self) -> MappingProxyType:
        return MappingProxyType(self._state.sds)

    @property
    def global_profiles(self) -> MappingProxyType:
        return MappingProxyType(self._state.global_profiles)

    @property
    def guide_profiles_by_type(self) -> MappingProxyType:
        return MappingProxyType(self._state.guide_profiles_by_type)

    @property
    def core_urls(self) -> frozenset:
        return self._state.core_urls

    def sd(self, url: str | None) -> dict | None:
        return self._state.sd(url)

    def type_url(self, type_code: str) -> str:
        return self._state.type_url(type_code)

    def type_sd(self, type_code: str) -> dict | None:
        return self._state.type_sd(type_code)

    def is_resource_type(self, name: str) -> bool:
        return self._state.is_resource_type(name)

    def snapshot(self, url: str) -> list | None:
        return self._state.snapshot(url)

    def expansion(self, url: str | None) -> dict | None:
        return self._state.expansion(url)

    def codesystem(self, url: str | None) -> dict | None:
        return self._state.codesystem(url)


def _read_path(p: Path, state=None):
    """(label naming the file, resource) for every conformance JSON or XML file under p."""
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.suffix not in (".json", ".xml") or f.name in _PACKAGE_FILES or not f.is_file():
                continue
            yield from _parse(str(f), _read(f), state)
    elif p.suffix in (".tgz", ".gz") or p.name.endswith(".tar.gz"):
        try:
            with tarfile.open(p) as tf:
                for m in tf.getmembers():
                    if m.isfile() and m.name.endswith((".json", ".xml")) and \
                            m.name.rsplit("/", 1)[-1] not in _PACKAGE_FILES:
                        f = tf.extractfile(m)
                        if f is not None:
                            yield from _parse(f"{p}:{m.name}", f.read(), state)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DefinitionsError(f"{p}: cannot be read as a package ({exc})") from None
    elif p.is_file():
        yield from _parse(str(p), _read(p), state)
    else:
        raise DefinitionsError(f"{p}: no such file or folder")


def _read(f: Path) -> bytes:
    try:
        return f.read_bytes()
    except OSError as exc:
        raise DefinitionsError(f"{f}: cannot be read ({exc.strerror})") from None


def read_resource_file(path: str | Path, state=None) -> dict:
    """One conformance resource from a file (JSON or FHIR XML); DefinitionsError if not."""
    p = Path(path)
    for _label, res in _parse(str(p), _read(p), state):
        return res
    raise DefinitionsError(f"{p}: no resource")


def _parse(label: str, raw: bytes, state=None):
    if raw[:200].lstrip()[:1] == b"<":
        # FHIR XML (packages and test material ship profiles as XML too); read with the core
        # element model of the state being extended (the XML shape never depends on profiles)
        from ..xml import XmlFormatError, xml_to_resource
        try:
            res = xml_to_resource(raw, state if state is not None else Registry().state)
        except XmlFormatError as exc:
            raise DefinitionsError(f"{label}: not valid FHIR XML ({exc})") from None
        yield label, res
        return
    try:
        res = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DefinitionsError(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
        raise DefinitionsError(f"{label}: not a FHIR resource (no resourceType)")
    yield label, res


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry (R4 core + the project's guide), loaded once. A broken guide
    raises DefinitionsError (and is retried on the next call)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                reg = Registry()
                reg.load_guide()
                _default = reg
    return _default
