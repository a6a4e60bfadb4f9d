"""The definitions registry: R4 core + guide + --ig packages + resources stored through REST.

Everything is indexed by canonical URL (and `url|version`). Loaded once per process
(`default_registry()`); the compact core file loads in well under a second, snapshots of
differential-only profiles are generated on first use and cached.
"""
from __future__ import annotations

import gzip
import json
import tarfile
import threading
from pathlib import Path
from typing import Iterable

import orjson

from .compact import compact_sd
from .terminology import compact_cs, expand_valueset

DATA = Path(__file__).resolve().parent / "data" / "r4core.json.gz"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CORE_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


class Registry:
    def __init__(self, load_core: bool = True):
        self._lock = threading.RLock()
        self.sds: dict[str, dict] = {}
        self.cs: dict[str, dict] = {}
        self.vs_expansions: dict[str, dict] = {}
        self.valuesets: dict[str, dict] = {}  # full ValueSet resources added at run time
        self.global_profiles: dict[str, list[str]] = {}  # ImplementationGuide.global
        self.guide_profiles_by_type: dict[str, list[str]] = {}  # guide.json (strict mode)
        self.generation = 0  # bumped on every add: compiled caches key on it
        self._snapshots: dict[str, list] = {}
        self._by_type: dict[str, str] = {}
        if load_core:
            core = orjson.loads(gzip.decompress(DATA.read_bytes()))
            self.sds.update(core["sd"])
            self.cs.update(core["cs"])
            self.vs_expansions.update(core["vs"])
            self.core_urls = frozenset(core["sd"])
        else:
            self.core_urls = frozenset()
        self._index_types()

    # ------------------------------------------------------------------ indexing
    def _index_types(self):
        for url, sd in self.sds.items():
            if sd.get("derivation") != "constraint" and sd.get("kind") != "logical" \
                    and url.startswith(CORE_PREFIX):
                self._by_type.setdefault(sd["type"], url)

    def add(self, resource: dict) -> bool:
        """Index one conformance resource (StructureDefinition, ValueSet, CodeSystem,
        ImplementationGuide); Bundles are walked. Returns True when something was added."""
        rt = resource.get("resourceType") if isinstance(resource, dict) else None
        with self._lock:
            if rt == "Bundle":
                added = False
                for e in resource.get("entry") or ():
                    if isinstance(e, dict) and isinstance(e.get("resource"), dict):
                        added = self.add(e["resource"]) or added
                return added
            url = resource.get("url") if rt else None
            if rt == "StructureDefinition" and url:
                c = compact_sd(resource)
                self._put(self.sds, url, resource.get("version"), c)
                self._snapshots.pop(url, None)
                if resource.get("version"):
                    self._snapshots.pop(f"{url}|{resource['version']}", None)
            elif rt == "CodeSystem" and url:
                self._put(self.cs, url, resource.get("version"), compact_cs(resource))
                self._drop_expansions()
            elif rt == "ValueSet" and url:
                self._put(self.valuesets, url, resource.get("version"), resource)
                self._drop_expansions()
            elif rt == "ImplementationGuide":
                for g in resource.get("global") or ():
                    if g.get("type") and g.get("profile"):
                        lst = self.global_profiles.setdefault(g["type"], [])
                        if g["profile"] not in lst:
                            lst.append(g["profile"])
            else:
                return False
            self.generation += 1
            return True

    def _drop_expansions(self):
        # expansions of run-time value sets are recomputed on demand
        self._exp_cache = {}

    @staticmethod
    def _put(index: dict, url: str, version: str | None, value):
        index[url] = value
        if version:
            index[f"{url}|{version}"] = value

    def add_all(self, resources: Iterable[dict]):
        for r in resources:
            self.add(r)

    def load_path(self, path: str | Path) -> int:
        """Load conformance resources from a JSON file, a folder (recursively) or an NPM
        package .tgz. Returns the number of resources added."""
        p = Path(path)
        n = 0
        if p.is_dir():
            for f in sorted(p.rglob("*.json")):
                n += self._load_bytes(f.read_bytes())
        elif p.suffix in (".tgz", ".gz") or p.name.endswith(".tar.gz"):
            with tarfile.open(p) as tf:
                for m in tf.getmembers():
                    if m.isfile() and m.name.endswith(".json") and not m.name.endswith(
                            ("package.json", ".index.json")):
                        f = tf.extractfile(m)
                        if f is not None:
                            n += self._load_bytes(f.read())
        elif p.is_file():
            n += self._load_bytes(p.read_bytes())
        else:
            raise FileNotFoundError(str(p))
        return n

    def _load_bytes(self, raw: bytes) -> int:
        try:
            res = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 0
        if isinstance(res, dict) and res.get("resourceType"):
            return 1 if self.add(res) else 0
        return 0

    def load_guide(self, root: Path | None = None) -> int:
        """The project's guide: profiles/fsh-generated/resources/*.json and profiles/guide.json
        (canonical + profilesByType). Missing is fine."""
        root = root or REPO_ROOT / "profiles"
        n = 0
        res_dir = root / "fsh-generated" / "resources"
        if res_dir.is_dir():
            n += self.load_path(res_dir)
        guide = root / "guide.json"
        if guide.is_file():
            try:
                g = json.loads(guide.read_text(encoding="utf-8"))
                for t, urls in (g.get("profilesByType") or {}).items():
                    self.guide_profiles_by_type[t] = list(urls if isinstance(urls, list) else [urls])
            except (ValueError, AttributeError):
                pass
        return n

    # ------------------------------------------------------------------ lookups
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
        return self._by_type.get(type_code) or CORE_PREFIX + type_code

    def type_sd(self, type_code: str) -> dict | None:
        return self.sds.get(self.type_url(type_code))

    def is_resource_type(self, name: str) -> bool:
        sd = self.sds.get(CORE_PREFIX + name)
        return bool(sd and sd.get("kind") == "resource" and sd.get("derivation") != "constraint")

    def snapshot(self, url: str) -> list | None:
        """Snapshot elements of a StructureDefinition, generated from its differential when
        it has none (profiles of profiles too)."""
        cached = self._snapshots.get(url)
        if cached is not None:
            return cached
        sd = self.sd(url)
        if sd is None:
            return None
        if sd.get("elements"):
            self._snapshots[url] = sd["elements"]
            return sd["elements"]
        from .snapshot import generate_snapshot
        with self._lock:
            self._snapshots[url] = []  # recursion guard
            try:
                elements = generate_snapshot(sd, self)
            except Exception:
                self._snapshots.pop(url, None)
                raise
            self._snapshots[url] = elements
        return elements

    def expansion(self, url: str | None) -> dict | None:
        """{"codes": {system: set(code)}, "open": set(system)} or None when unknown."""
        if not url:
            return None
        base = url.split("|")[0]
        cache = getattr(self, "_exp_cache", None)
        if cache is None:
            cache = self._exp_cache = {}
        hit = cache.get(base)
        if hit is not None:
            return hit or None
        exp = None
        if base in self.valuesets:
            vss = dict(self.valuesets)
            exp = expand_valueset(base, vss, self.cs)
        elif base in self.vs_expansions:
            exp = self.vs_expansions[base]
        if exp is None:
            cache[base] = {}
            return None
        out = {"codes": {s: frozenset(c) for s, c in exp["codes"].items()},
               "open": frozenset(exp["open"])}
        cache[base] = out
        return out

    def codesystem(self, url: str | None) -> dict | None:
        if not url:
            return None
        cs = self.cs.get(url) or self.cs.get(url.split("|")[0])
        if cs is None:
            return None
        if "_set" not in cs:
            cs["_set"] = frozenset(cs["codes"])
        return cs


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry (R4 core + the project's guide), loaded once."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                reg = Registry()
                try:
                    reg.load_guide()
                except Exception:  # a broken guide must not stop the service
                    pass
                _default = reg
    return _default
