"""The compiled StructureDefinitions of one registry generation, and every cache derived from them.

`Definitions.of(state)` is made once per set of StructureDefinitions (kept in the registry
state's `structure_memo`, so it lives and dies with that generation): compiled Node trees by
canonical URL, the children of a node for a type, the invariants that apply to a value, the
element definitions a discriminator path reaches, the vital-signs table and the walker's rule
plans. Caches are keyed by URL or by Node object (nodes hash by identity and belong to this
object), never by `id()`. Only the structure part of the state is read here (StructureDefinitions
and snapshots); terminology and the guide's profile lists are read from the run's state.

Several threads may fill the caches at once: a miss computes the same value, the last write
wins; compilation itself is serialised.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from ..definitions.registry import SnapshotError
from .model import CompiledSD, Node

CORE = "http://hl7.org/fhir/StructureDefinition/"


class Children:
    """What the walker needs to descend into a value of a node for one type code."""

    __slots__ = ("kids", "extra", "troot", "checked_absent")

    def __init__(self, kids: dict, extra: list, troot: Node | None):
        self.kids = kids          # JSON name -> (Node, type code | None)
        self.extra = extra        # the type's invariants not restated by the element
        self.troot = troot
        # children that have something to say when absent: required ones, sliced ones
        # (required slices)
        seen, absent = set(), []
        for child, _t in kids.values():
            if child in seen:
                continue
            seen.add(child)
            if child.min > 0 or (not child.choice and (child.slices or (
                    child.slicing and child.slicing.get("rules") == "closed"))):
                absent.append(child)
        self.checked_absent = absent


class Definitions:
    STRUCTURE_MEMO = "fhirsvc.validation.definitions"

    @classmethod
    def of(cls, state) -> "Definitions":
        return state.structure_memo(cls.STRUCTURE_MEMO, cls)

    def __init__(self, state):
        self.state = state
        self._lock = threading.RLock()
        self._compiled: dict[str, CompiledSD | None] = {}
        self._broken: dict[str, str] = {}
        self._children: dict[Node, dict] = {}
        self._invariants: dict[tuple, list] = {}
        self._nodes_at: dict[tuple[Node, str], list] = {}
        self._vital: dict[str, str] | None = None
        self.plans: dict = {}  # the walker's rule plans, per (Node, type code) and per Node
        # kept verdicts (walker._walk_kept), per run settings: (generation, table). A table
        # belongs to one generation (terminology may change without the structures), a newer
        # generation starts its own.
        self._kept: dict[tuple, tuple] = {}

    def kept(self, state, settings: tuple) -> dict:
        """The kept-verdict table of a generation and run settings."""
        slot = self._kept.get(settings)
        if slot is None or slot[0] is not state:
            slot = self._kept[settings] = (state, {})
        return slot[1]

    # ---------------------------------------------------------------- compiled lookups
    def compiled(self, url: str | None) -> CompiledSD | None:
        """The compiled profile; None when unknown or when its snapshot cannot be generated
        (see `broken`)."""
        if not url:
            return None
        got = self._compiled.get(url, False)
        if got is not False:
            return got
        with self._lock:
            got = self._compiled.get(url, False)
            if got is not False:
                return got
            cs = None
            sd = self.state.sd(url)
            if sd is not None:
                try:
                    elements = self.state.snapshot(url)
                except SnapshotError as exc:
                    self._broken[url] = exc.reason
                    elements = None
                if elements:
                    cs = CompiledSD(sd["url"], sd, elements)
            self._compiled[url] = cs
        return cs

    def broken(self, url: str | None) -> str | None:
        """Why a known StructureDefinition cannot be used (its snapshot fails), else None."""
        if not url:
            return None
        self.compiled(url)
        return self._broken.get(url)

    def type_root(self, code: str) -> Node | None:
        cs = self.compiled(self.state.type_url(code))
        return cs.root if cs else None

    def extension_definition(self, url) -> CompiledSD | None:
        cs = self.compiled(url) if isinstance(url, str) else None
        return cs if cs is not None and cs.type == "Extension" else None

    def definition_for(self, value, node: Node, tcode: str | None) -> Node:
        """The node a value is walked with: for an extension in a plain `extension` element
        whose url names a known extension definition, that definition's root."""
        if tcode == "Extension" and is_open_extension(node) and value.__class__ is dict:
            ext = self.extension_definition(value.get("url"))
            if ext is not None:
                return ext.root
        return node

    def children(self, node: Node, tcode: str | None) -> Children:
        """Children (by JSON name), type-level invariants and type root of a value of node."""
        per = self._children.get(node)
        if per is None:
            per = self._children[node] = {}
        hit = per.get(tcode)
        if hit is not None:
            return hit
        kids: dict = {}
        extra: list = []
        troot = None
        if node.content_ref:
            ref = node.content_ref.split("#", 1)[-1]
            target = node.model.by_id.get(ref) if node.model else None
            if target is not None:
                t_ch = self.children(target, tcode)
                kids, extra, troot = t_ch.kids, t_ch.extra, t_ch.troot
                if target.has_explicit:
                    kids = target.explicit
                    extra = list(target.constraints)
        else:
            t = None
            for tr in node.types:
                if tcode is None or tr.code == tcode:
                    t = tr
                    break
            if t is not None:
                prof_root = None
                for p in t.profiles:
                    c = self.compiled(p)
                    if c is not None:
                        prof_root = c.root
                        break
                troot = prof_root or self.type_root(t.code)
                if troot is not None:
                    kids = troot.explicit
                    extra = list(troot.constraints)
                    if prof_root is not None:
                        base_root = self.type_root(t.code)
                        if base_root is not None:
                            keys = {c.key for c in extra}
                            extra += [c for c in base_root.constraints if c.key not in keys]
        if node.has_explicit:
            kids = node.explicit
        own = {c.key for c in node.constraints}
        extra = [c for c in extra if c.key not in own]
        hit = per[tcode] = Children(kids, extra, troot)
        return hit

    def invariants(self, value, node: Node, tcode: str | None) -> list:
        """The constraints a value of node is checked against: the definition it is walked with
        (definition_for) and the invariants of its type."""
        target = self.definition_for(value, node, tcode) if tcode == "Extension" else node
        key = (target, tcode)
        hit = self._invariants.get(key)
        if hit is None:
            extra = self.children(target, tcode).extra
            hit = self._invariants[key] = (target.constraints + extra) if extra \
                else target.constraints
        return hit

    # ---------------------------------------------------------------- discriminator paths
    def nodes_at(self, node: Node, path: str) -> list:
        """Element definitions reached by a discriminator path from a slice; a path through a
        sliced element also reaches its required slices (code.coding.code ->
        coding:SBPCode.code)."""
        key = (node, path)
        hit = self._nodes_at.get(key)
        if hit is not None:
            return hit
        if path in ("$this", ""):
            got = [node]
        else:
            cur = [node]
            for kind, seg in segments(path):
                if kind != "el":
                    cur = []
                    break
                nxt = []
                for n in cur:
                    kids = self.children(n, None).kids
                    found = kids.get(seg)
                    if found is None:
                        for _name, (k, t) in kids.items():
                            if k.name == seg:
                                found = (k, t)
                                break
                    if found is None:
                        continue
                    nxt.append(found[0])
                    nxt += [sl for sl in found[0].slices if sl.min >= 1]
                cur = nxt
            got = cur
        self._nodes_at[key] = got
        return got

    # ---------------------------------------------------------------- implicit profiles
    def vital_profiles(self) -> dict[str, str]:
        """LOINC code -> core vital-signs profile, read from the profiles' fixed/pattern codes."""
        if self._vital is not None:
            return self._vital
        table: dict[str, str] = {}
        vs = CORE + "vitalsigns"
        for url, sd in self.state.sds.items():
            if sd.get("baseDefinition") != vs or sd.get("type") != "Observation":
                continue
            for el in sd.get("elements") or ():
                if el.get("path") == "Observation.code.coding.code" and ":" in el.get("id", "") \
                        and el.get("fixedCode"):
                    table.setdefault(el["fixedCode"], url)
                if el.get("path") == "Observation.code.coding" and el.get("patternCoding"):
                    pc = el["patternCoding"]
                    if pc.get("system") == "http://loinc.org" and pc.get("code"):
                        table.setdefault(pc["code"], url)
        self._vital = table
        return table


def is_open_extension(node: Node) -> bool:
    """A plain `extension` element: any extension, its definition named by its url."""
    return not node.slice_name and not any(t.profiles for t in node.types)


@lru_cache(maxsize=1024)
def segments(path: str) -> tuple:
    """Discriminator path -> ((kind, name), ...): kind is 'ext' (extension('url')),
    'resolve' or 'el' (ofType() stripped). Pure, hence a bounded LRU cache."""
    out = []
    for seg in path.split("."):
        m = re.match(r"^extension\(['\"](.+)['\"]\)$", seg)
        if m:
            out.append(("ext", m.group(1)))
        elif seg == "resolve()":
            out.append(("resolve", ""))
        else:
            out.append(("el", re.sub(r"\.?ofType\((\w+)\)$", "", seg)))
    return tuple(out)
