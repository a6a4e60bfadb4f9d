"""Local code -> standard codings through ConceptMaps (R4: group.source / element.code /
target.code with equivalence). Unmatched and disjoint targets translate to nothing."""
from __future__ import annotations

_USABLE = {"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes",
           "inexact", None}


class ConceptMapIndex:
    def __init__(self, maps: list[dict]):
        self.index: dict[tuple[str, str], list[dict]] = {}
        for cm in maps:
            for group in cm.get("group", ()):
                source, target = group.get("source"), group.get("target")
                if not source or not target:
                    continue
                for el in group.get("element", ()):
                    for t in el.get("target", ()):
                        if t.get("equivalence") not in _USABLE or not t.get("code"):
                            continue
                        coding = {"system": target, "code": t["code"]}
                        if t.get("display"):
                            coding["display"] = t["display"]
                        self.index.setdefault((source, el.get("code")), []).append(coding)

    def translate(self, system: str, code: str) -> list[dict]:
        return [dict(c) for c in self.index.get((system, code), ())]

    def __len__(self) -> int:
        return len(self.index)
