"""Small readers over example bundles (fact assertions name where each fact lives)."""
from __future__ import annotations

CANON = "http://fhirsvc.org/fhir/calcinosis"
CIG = CANON + "/CodeSystem/calcinosis-ig"
EXT = CANON + "/StructureDefinition/"
SCT = "http://snomed.info/sct"
LNC = "http://loinc.org"
ORDER = [f"C{i}" for i in range(1, 8)] + [f"T{i}" for i in range(1, 13)] + \
    [f"L{i}" for i in range(1, 6)] + [f"S{i}" for i in range(1, 6)]


class Case:
    def __init__(self, bundle: dict, guide: dict):
        self.entries = bundle["entry"]
        self.by_url = {e["fullUrl"]: e["resource"] for e in self.entries}
        self.level_name = {(c["system"], c["code"]): c["display"] for c in guide["spinalLevelOrder"]}

    def all(self, rtype: str | None = None, profile: str | None = None):
        for e in self.entries:
            r = e["resource"]
            if rtype and r["resourceType"] != rtype:
                continue
            if profile and CANON + "/StructureDefinition/" + profile not in r["meta"]["profile"]:
                continue
            yield r

    def coded(self, rtype: str, system: str, code: str, path: str = "code", profile: str | None = None) -> list[dict]:
        return [r for r in self.all(rtype, profile) if has_code(r.get(path), system, code)]

    def one(self, rtype: str, system: str, code: str, path: str = "code", profile: str | None = None) -> dict:
        found = self.coded(rtype, system, code, path, profile)
        assert found, f"no {rtype} with {path} {system}|{code}"
        return found[0]

    def resolve(self, ref: dict) -> dict:
        return self.by_url[ref["reference"]]

    def levels(self, site: dict) -> set[str]:
        """Every level named by a site's spinal-level extensions, ranges expanded."""
        out = set()
        for e in site.get("extension", []):
            if e["url"] == EXT + "spinal-level":
                c = e["valueCodeableConcept"]["coding"][0]
                out.add(self.level_name[(c["system"], c["code"])])
            elif e["url"] == EXT + "spinal-level-range":
                ends = {x["url"]: x["valueCodeableConcept"]["coding"][0] for x in e["extension"]}
                a = ORDER.index(self.level_name[(ends["start"]["system"], ends["start"]["code"])])
                b = ORDER.index(self.level_name[(ends["end"]["system"], ends["end"]["code"])])
                out.update(ORDER[a:b + 1])
        return out


def codes(cc) -> set[tuple[str, str]]:
    if not cc:
        return set()
    if isinstance(cc, list):
        return set().union(*(codes(x) for x in cc))
    return {(c.get("system"), c.get("code")) for c in cc.get("coding", [])}


def has_code(cc, system: str, code: str) -> bool:
    return (system, code) in codes(cc)


def ext(resource_or_site: dict, name: str) -> list:
    url = name if name.startswith("http") else EXT + name
    return [e for e in resource_or_site.get("extension", []) if e["url"] == url]


def ext_code(resource_or_site: dict, name: str) -> set[tuple[str, str]]:
    return set().union(set(), *(codes(e.get("valueCodeableConcept")) for e in ext(resource_or_site, name)))


def sites(r: dict) -> list[dict]:
    s = r.get("bodySite")
    return s if isinstance(s, list) else ([s] if s else [])


def value_code(r: dict) -> set[tuple[str, str]]:
    return codes(r.get("valueCodeableConcept"))
