"""Loading the mapping files (YAML, in mappings/) once, checking them, and answering look-ups.

    maps = Mappings.load()                 # the shipped files; Mappings.load(dir) for others
    maps.structure_for("ADT^A08")          # the message structure mapping (ADT_A01)
    maps.segment("PID")                    # field rules
    maps.identifier_system("HOSPA", ...)   # Identifier.system for an assigning authority

A file that names an unknown transform, table or segment fails the load, naming the file: a
typo in a mapping is found at start-up, not by the first message that needs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .transforms import TRANSFORMS

MAPPINGS_DIR = Path(__file__).parent / "mappings"


class MappingError(Exception):
    pass


@dataclass(frozen=True)
class FieldRule:
    field: int
    target: str
    transform: str
    args: dict
    list: bool = False
    required: bool = False
    default: object = None
    unless: int | None = None        # skip when this other field has a value
    top: str = ""                    # the top-level element the target is in (merge rules)
    fn: object = None                # the transform function
    path: tuple = ()                 # target split on "." once, not per value set

    def __post_init__(self):
        object.__setattr__(self, "path", tuple(self.target.split(".")))


@dataclass(frozen=True)
class SegmentMap:
    segment: str
    resource: str
    fields: tuple[FieldRule, ...]
    set: dict = field(default_factory=dict)

    tops: frozenset = frozenset()    # top-level elements its fields can set
    # (field, optional, rule) per rule in order: a field not sent skips its rule after one
    # look-up (optional: no default and not required)
    plan: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "plan", tuple(
            (r.field, r.default is None and not r.required, r) for r in self.fields))


@dataclass(frozen=True)
class StructureMap:
    structure: str
    events: tuple[str, ...]
    entries: tuple[dict, ...]
    imaging_sections: frozenset[str] = frozenset()
    profiles: tuple[dict, ...] = ()
    source: str = ""
    # segments of a group the guide leaves unmapped, by position: {segment, after, until, why}
    unmapped_groups: tuple[dict, ...] = ()
    # look-ups by segment id, made once at load (the converter asks them for every segment)
    _by_segment: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _opens: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        for e in self.entries:
            self._by_segment.setdefault(e["segment"], []).append(e)
        for k, v in self._by_segment.items():
            self._by_segment[k] = tuple(v)
        for g in self.unmapped_groups:
            self._opens.setdefault(g["after"], g)   # the first group a segment opens

    def entry_for(self, segment: str) -> dict | None:
        found = self._by_segment.get(segment)
        return found[0] if found else None

    def entries_for(self, segment: str) -> tuple[dict, ...]:
        """Every entry a segment makes (IN1: the payor Organization, then the Coverage)."""
        return self._by_segment.get(segment, ())

    def group_opened_by(self, segment: str) -> dict | None:
        """The unmapped group this segment opens (ORC: ORU_R01 ORDER_DOCUMENT), if any."""
        return self._opens.get(segment)


@dataclass
class Mappings:
    segments: dict[str, SegmentMap]
    structures: dict[str, StructureMap]
    by_event: dict[str, StructureMap]
    tables: dict[str, dict[str, str]]
    standard_systems: dict[str, str]
    local_systems: dict[str, str]
    local_prefix: str
    authorities: dict[str, str]
    authority_fallback: str
    derived_prefix: str
    units: dict[str, str]
    conceptmaps: list[dict]
    profiles: list[dict] = field(default_factory=list)
    # PL -> Location hierarchy (locations.yaml): levels, most granular first
    locations: dict = field(default_factory=dict)

    def __post_init__(self):
        # look-ups the converter makes for every coding and resource, compiled once
        self.local_system_urls = frozenset(self.local_systems.values())
        # profile rules by resource type: (requires, category, value set, profile)
        self.profile_rules: dict[str, tuple[tuple, ...]] = {}
        for p in self.profiles:
            rule = (tuple(p.get("requires", ())), p.get("category"), p.get("valueset"),
                    p["profile"])
            self.profile_rules[p["resource"]] = self.profile_rules.get(p["resource"], ()) + \
                (rule,)

    @classmethod
    def load(cls, root: Path | None = None) -> "Mappings":
        root = Path(root or MAPPINGS_DIR)
        tables = {k: {str(c): str(v) for c, v in t.items()}
                  for k, t in _yaml(root / "tables.yaml").items()}
        segments = {}
        for path in sorted((root / "segments").glob("*.yaml")):
            data = _yaml(path)
            rules = []
            for raw in data.get("fields", ()):
                if raw.get("transform") not in TRANSFORMS:
                    raise MappingError(f"{path.name}: field {raw.get('field')} names transform "
                                       f"{raw.get('transform')!r}; known: "
                                       f"{', '.join(sorted(TRANSFORMS))}")
                args = dict(raw.get("args") or {})
                for key in ("table", "display"):
                    if key in args and args[key] not in tables:
                        raise MappingError(f"{path.name}: field {raw['field']} names table "
                                           f"{args[key]!r}, not in tables.yaml")
                rules.append(FieldRule(int(raw["field"]), raw["target"], raw["transform"], args,
                                       bool(raw.get("list")), bool(raw.get("required")),
                                       raw.get("default"), raw.get("unless"),
                                       raw["target"].split(".")[0].replace("[x]", ""),
                                       TRANSFORMS[raw["transform"]]))
            # `map` names a second mapping of one segment (IN1[Organization] beside IN1)
            segments[data.get("map", data["segment"])] = SegmentMap(data["segment"], data["resource"],
                                                   tuple(rules), dict(data.get("set") or {}),
                                                   frozenset(r.top for r in rules))
        structures, by_event = {}, {}
        for path in sorted((root / "messages").glob("*.yaml")):
            data = _yaml(path)
            for e in data["entries"]:
                if e.get("map", e["segment"]) not in segments and e["segment"] not in (
                        "NTE", "MRG"):
                    raise MappingError(f"{path.name}: no segment mapping for "
                                       f"{e.get('map', e['segment'])}")
            sm = StructureMap(data["structure"], tuple(data["events"]), tuple(data["entries"]),
                              frozenset(data.get("imaging_sections") or ()),
                              tuple(data.get("profiles") or ()), path.name,
                              tuple(data.get("unmapped_groups") or ()))
            structures[sm.structure] = sm
            for ev in sm.events:
                if ev in by_event:
                    raise MappingError(f"{path.name}: event {ev} is already mapped by "
                                       f"{by_event[ev].source}")
                by_event[ev] = sm
        cs = _yaml(root / "codesystems.yaml")
        ids = _yaml(root / "identifier_systems.yaml")
        units = {str(k): str(v) for k, v in _yaml(root / "units.yaml").items()}
        import json
        conceptmaps = [json.loads(p.read_text("utf-8"))
                       for p in sorted((root / "conceptmaps").glob("*.json"))]
        profiles = list(_yaml(root / "profiles.yaml") or ())
        locations = _yaml(root / "locations.yaml") if (root / "locations.yaml").exists() \
            else {}
        return cls(segments, structures, by_event, tables, dict(cs["standard"]),
                   dict(cs.get("local") or {}), cs["local_prefix"], dict(ids["authorities"]),
                   ids["fallback"], ids["derived"], units, conceptmaps, profiles, locations)

    def structure_for(self, message_type: str) -> StructureMap | None:
        return self.by_event.get(message_type)

    def segment(self, sid: str) -> SegmentMap:
        return self.segments[sid]


# libyaml's loader when PyYAML was built with it (4x faster at start-up), else the pure one
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: Path):
    try:
        return yaml.load(path.read_text("utf-8"), Loader=_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: {exc}") from None
