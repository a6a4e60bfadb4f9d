"""Snapshot generation: differential + base snapshot -> snapshot (compact elements).

Hand-written because no Python library does it (fhir.resources has no profile machinery).
Follows the rules of the FHIR profiling page in simplified form:
- start from the base definition's snapshot (generated first when the base is itself a
  differential-only profile);
- each differential element is matched by id (ids are derived from path + sliceName when a
  differential carries paths only); children of a complex element that the base does not
  expand are unfolded from the element's type (or its type profile / contentReference);
- a new slice is a copy of the sliced element (and its unfolded children) inserted after the
  existing slices; re-slices (`a:s/r`) work the same way;
- the renamed form of a choice (`valueQuantity`) constrains `value[x]` to that type;
- differential values replace the base ones, constraints are added (tagged with the profile).
"""
from __future__ import annotations

import copy
import re

_CHOICE_TYPES_RE = re.compile(r"^([a-z][A-Za-z0-9]*?)([A-Z][A-Za-z0-9]*)$")


def _split_id(eid: str) -> list[str]:
    # slice names may not contain '.', so a plain split is enough
    return eid.split(".")


def _derive_ids(diff: list[dict]) -> list[dict]:
    """Give every differential element an id (older profiles carry only paths)."""
    out = []
    slice_ctx: dict[str, str] = {}  # path -> id of the current slice at that path
    for el in diff:
        el = dict(el)
        if not el.get("id"):
            path = el["path"]
            parts = path.split(".")
            # rebuild id: for each prefix, use the slice context if any
            cur = parts[0]
            cur_path = parts[0]
            for seg in parts[1:]:
                cur_path = cur_path + "." + seg
                cur = cur + "." + seg
                if cur_path != path and cur_path in slice_ctx:
                    cur = slice_ctx[cur_path]
            if el.get("sliceName"):
                cur = cur + ":" + el["sliceName"]
                slice_ctx[path] = cur
                # clear deeper contexts
                for k in [k for k in slice_ctx if k.startswith(path + ".")]:
                    del slice_ctx[k]
            elif path in slice_ctx:
                del slice_ctx[path]
            el["id"] = cur
        out.append(el)
    return out


class _Builder:
    def __init__(self, sd: dict, registry):
        self.sd = sd
        self.registry = registry
        self.url = sd["url"]
        base = registry.snapshot(sd["baseDefinition"]) if sd.get("baseDefinition") else None
        if not base:
            raise ValueError(f"base definition {sd.get('baseDefinition')} of {sd['url']} is not known")
        self.elements = [copy.deepcopy(e) for e in base]
        # a profile of a type keeps the type's root name (Extension, Observation ...)
        self.root = self.elements[0]["path"].split(".")[0]
        self._index = None

    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {e.get("id") or e["path"]: i for i, e in enumerate(self.elements)}
        return self._index

    def insert(self, pos: int, new: list[dict]):
        self.elements[pos:pos] = new
        self._index = None

    def last_descendant(self, i: int) -> int:
        """Index of the last element belonging to element i (children and slices)."""
        eid = self.elements[i]["id"]
        j = i
        while j + 1 < len(self.elements):
            nid = self.elements[j + 1]["id"]
            if nid.startswith(eid + ".") or nid.startswith(eid + ":"):
                j += 1
            else:
                break
        return j

    def _type_children(self, el: dict, want: str | None) -> list[dict] | None:
        """Children of `el` unfolded from its type (or contentReference)."""
        if el.get("contentReference"):
            ref = el["contentReference"].split("#", 1)[-1]
            idx = self.index()
            src = idx.get(ref)
            if src is None:
                return None
            j = self.last_descendant(src)
            kids = [e for e in self.elements[src + 1:j + 1] if ":" not in e["id"][len(ref):]]
            return [self._rebase(e, ref, el["id"], ref, el["path"]) for e in kids]
        types = el.get("type") or []
        if not types:
            return None
        cand = types
        if len(types) > 1 and want:
            # choice: pick the type that has the wanted child
            cand = [t for t in types if self._type_has_child(t, want)] or types
        t = cand[0]
        url = (t.get("profile") or [None])[0] or self.registry.type_url(t["code"])
        snap = self.registry.snapshot(url) or self.registry.snapshot(self.registry.type_url(t["code"]))
        if not snap:
            return None
        root = snap[0]
        return [self._rebase(e, root["id"], el["id"], root["path"], el["path"]) for e in snap[1:]]

    def _type_has_child(self, t: dict, name: str) -> bool:
        snap = self.registry.snapshot(self.registry.type_url(t["code"])) or []
        if not snap:
            return False
        root = snap[0]["path"]
        return any(e["path"] == f"{root}.{name}" for e in snap)

    @staticmethod
    def _rebase(e: dict, old_id: str, new_id: str, old_path: str, new_path: str) -> dict:
        e = copy.deepcopy(e)
        e["id"] = new_id + e["id"][len(old_id):]
        e["path"] = new_path + e["path"][len(old_path):]
        return e

    def ensure(self, eid: str) -> int | None:
        idx = self.index()
        if eid in idx:
            return idx[eid]
        if "." not in eid:
            return None
        parent_id, last = eid.rsplit(".", 1)
        name, _, slice_name = last.partition(":")
        if slice_name:
            base_i = self.ensure(f"{parent_id}.{name}")
            if base_i is None:
                return None
            return self.make_slice(base_i, slice_name)
        pi = self.ensure(parent_id)
        if pi is None:
            return None
        parent = self.elements[pi]
        # renamed choice: valueQuantity -> value[x] (restricted to Quantity)
        m = _CHOICE_TYPES_RE.match(name)
        if m:
            choice_id = f"{parent_id}.{m.group(1)}[x]"
            if choice_id in self.index():
                ci = self.index()[choice_id]
                tname = m.group(2)
                types = self.elements[ci].get("type") or []
                match = [t for t in types if t["code"][:1].upper() + t["code"][1:] == tname]
                if match:
                    if len(types) > 1:
                        self.elements[ci]["type"] = match
                    self._alias[eid] = choice_id
                    return ci
        # unfold the parent's type
        if any(e["id"].startswith(parent["id"] + ".") for e in self.elements[pi + 1:pi + 2]):
            return None  # already unfolded: the child does not exist
        kids = self._type_children(parent, name)
        if not kids:
            return None
        self.insert(pi + 1, kids)
        return self.index().get(eid)

    def make_slice(self, base_i: int, slice_name: str) -> int:
        base = self.elements[base_i]
        sid = base["id"] + ":" + slice_name
        j = self.last_descendant(base_i)
        # the slice copies the sliced element and its (unsliced) unfolded children
        group = [base] + [e for e in self.elements[base_i + 1:j + 1]
                          if e["id"].startswith(base["id"] + ".")]
        new = []
        for e in group:
            c = copy.deepcopy(e)
            c["id"] = sid + e["id"][len(base["id"]):]
            if e is base:
                c["sliceName"] = slice_name
                c.pop("slicing", None)
            new.append(c)
        # choice type slice (value[x]:valueQuantity) narrows the type
        if base["path"].endswith("[x]"):
            stem = base["path"].rsplit(".", 1)[-1][:-3]
            if slice_name.startswith(stem):
                tname = slice_name[len(stem):]
                match = [t for t in base.get("type") or [] if
                         t["code"][:1].upper() + t["code"][1:] == tname]
                if match:
                    new[0]["type"] = match
        self.insert(j + 1, new)
        return j + 1

    def merge(self, target: dict, d: dict):
        for k, v in d.items():
            if k in ("id", "path", "basePath"):
                continue
            if k == "constraint":
                have = {c.get("key") for c in target.get("constraint", ())}
                lst = target.setdefault("constraint", [])
                for c in v:
                    if c.get("key") in have:
                        continue
                    c = dict(c)
                    c.setdefault("source", self.url)
                    lst.append(c)
            elif k.startswith(("fixed", "pattern")):
                for old in [x for x in target if x.startswith(("fixed", "pattern"))]:
                    del target[old]
                target[k] = copy.deepcopy(v)
            elif k.startswith(("minValue", "maxValue")):
                pre = "minValue" if k.startswith("minValue") else "maxValue"
                for old in [x for x in target if x.startswith(pre)]:
                    del target[old]
                target[k] = copy.deepcopy(v)
            else:
                target[k] = copy.deepcopy(v)
        target["_from"] = self.url

    def build(self) -> list[dict]:
        self._alias: dict[str, str] = {}
        diff = _derive_ids(self.sd.get("differential") or [])
        for d in diff:
            eid = d["id"]
            # rewrite a root name that differs (profile on a profile keeps the same root)
            head, dot, rest = eid.partition(".")
            if head.split(":")[0] != self.root:
                eid = self.root + dot + rest if dot else self.root
            # aliases (renamed choices) apply to descendants too
            for a, target in self._alias.items():
                if eid.startswith(a + ".") or eid.startswith(a + ":"):
                    eid = target + eid[len(a):]
                    break
            # renamed choice in the middle of an id
            i = self.ensure(eid)
            if i is None:
                parts = _split_id(eid)
                # try to resolve segment by segment through aliases
                for n in range(1, len(parts)):
                    pre = ".".join(parts[:n + 1])
                    if self.ensure(pre) is None:
                        break
                    if pre in self._alias:
                        eid = self._alias[pre] + eid[len(pre):]
                i = self.ensure(eid)
            if i is None:
                raise ValueError(f"{self.url}: differential element {d['id']} matches nothing "
                                 f"in the base definition")
            self.merge(self.elements[i], d)
        return self.elements


def generate_snapshot(sd: dict, registry) -> list[dict]:
    return _Builder(sd, registry).build()
