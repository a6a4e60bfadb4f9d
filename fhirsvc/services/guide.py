"""What the implementation guide offers a person choosing how to validate: its profiles, by
the resource type they constrain (the validate page's profile picker)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileInfo:
    url: str
    name: str
    title: str
    type: str


class GuideService:
    def __init__(self, definitions, sync):
        self.definitions = definitions
        self._sync = sync

    def profiles(self, ctx) -> list[ProfileInfo]:
        """The guide's profiles, by type then title."""
        out = []
        for rtype, urls in self.definitions.guide_profiles_by_type.items():
            for url in urls:
                sd = self.definitions.sd(url) or {}
                name = sd.get("name") or url.rsplit("/", 1)[-1]
                out.append(ProfileInfo(url, name, sd.get("title") or _words(name), rtype))
        return sorted(out, key=lambda p: (p.type, p.title))


def _words(name: str) -> str:
    """'CalcinosisLesion' -> 'Calcinosis Lesion' (a title for profiles that carry none)."""
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out += " "
        out += ch
    return out
