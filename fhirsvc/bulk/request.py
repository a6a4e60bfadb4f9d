"""Bulk Data kick-off parameters (Bulk Data IG 3.0.0 export.html), from a GET query or a POST
Parameters body, checked into plain data before anything is queued. Every problem is an Issue
located at the parameter; the service turns them into a 400.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..outcomes import OperationOutcomeError, error
from ..resource_types import RESOURCE_TYPES

NDJSON = "application/fhir+ndjson"
# the spec's aliases a server SHALL accept for application/fhir+ndjson
OUTPUT_FORMATS = {NDJSON, "application/ndjson", "ndjson"}
KNOWN = {"_outputFormat", "_since", "_until", "_type", "_typeFilter", "patient",
         "includeAssociatedData", "_elements", "organizeOutputBy", "allowPartialManifests"}
# the parameters of each level's OperationDefinition (Bulk Data IG): `patient` is not one of
# the system-level export's; organizeOutputBy is known and refused (400)
PARAMETERS = {"system": KNOWN - {"patient"}, "patient": KNOWN, "group": KNOWN}
# includeAssociatedData values -> how much Provenance goes with the exported resources
# (several values: the least restrictive wins, as the spec says)
ASSOCIATED = {"LatestProvenanceResources": "latest", "RelevantProvenanceResources": "relevant"}
_ELEMENT = re.compile(r"^(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*)$")


@dataclass
class KickoffParams:
    output_format: str = NDJSON
    since: int | None = None                     # microseconds since the epoch, UTC
    until: int | None = None                     # _until: changes before it only (µs)
    types: list[str] | None = None
    type_filters: list[str] = field(default_factory=list)
    patients: list[str] | None = None            # ids from `patient` references
    # _elements: (resource type or None for every type, root element name)
    elements: list[tuple[str | None, str]] = field(default_factory=list)
    associated: str | None = None                # includeAssociatedData: latest | relevant
    allow_partial_manifests: bool = False        # accepted; the manifest is always complete
    warnings: list[str] = field(default_factory=list)


def parse_instant(value: str, where: str) -> int:
    """A FHIR instant (a date alone is taken as its first moment, UTC) -> microseconds."""
    text = value.strip()
    try:
        if len(text) == 10:
            dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OperationOutcomeError(error(
            "invalid", f"{where} must be a FHIR instant such as 2024-01-31T12:00:00Z, not "
            f"{value!r}", where), 400) from None
    if dt.tzinfo is None:
        raise OperationOutcomeError(error(
            "invalid", f"{where} {value!r} needs a time zone (Z or +hh:mm)", where), 400)
    return int(dt.timestamp() * 1_000_000)


def _split(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def from_parameters(body: dict) -> list[tuple[str, str]]:
    """A Parameters resource -> (name, value) pairs; `patient` carries its reference."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise OperationOutcomeError(error(
            "invalid", "POST $export takes a Parameters resource", "Parameters"), 400)
    pairs = []
    for i, p in enumerate(body.get("parameter") or []):
        name = p.get("name")
        where = f"Parameters.parameter[{i}]"
        if name == "patient":
            ref = (p.get("valueReference") or {}).get("reference")
            if not ref:
                raise OperationOutcomeError(error(
                    "invalid", "patient takes a valueReference to Patient/[id]", where), 400)
            pairs.append((name, ref))
            continue
        value = next((v for k, v in p.items() if k.startswith("value")), None)
        if not isinstance(value, (str, int, float, bool)):
            raise OperationOutcomeError(error(
                "invalid", f"parameter {name!r} needs a primitive value[x]", where), 400)
        pairs.append((name, str(value)))
    return pairs


def parse_kickoff(pairs: list[tuple[str, str]], *, strict: bool, level: str) -> KickoffParams:
    out = KickoffParams()
    issues = []
    by: dict[str, list[str]] = {}
    for name, value in pairs:
        by.setdefault(name, []).append(value)
    for name in by:
        if name not in KNOWN:
            what = "is not a $export parameter"
            if strict:
                issues.append(error("not-supported", f"{name} {what} (Prefer: handling="
                                    "strict)", name))
            else:
                out.warnings.append(f"{name} {what}; it was ignored")
    if "organizeOutputBy" in by:
        # refused whatever the handling: ignoring it would hand the client files organised
        # otherwise than it asked, and a lenient client can re-submit without it
        issues.append(error("not-supported", "organizeOutputBy is not supported by this "
                            "server: re-submit without it to get one file per resource type",
                            "organizeOutputBy"))
    if "allowPartialManifests" in by:
        flag = by["allowPartialManifests"][-1].strip().lower()
        if flag not in ("true", "false"):
            issues.append(error("invalid", f"allowPartialManifests must be true or false, not "
                                f"{flag!r}", "allowPartialManifests"))
        # a server MAY return partial manifests when allowed; this one always answers the
        # complete manifest once the export is done, which the spec permits
        out.allow_partial_manifests = flag == "true"
    if "includeAssociatedData" in by:
        for value in _split(by["includeAssociatedData"]):
            level_ = ASSOCIATED.get(value)
            if level_ is None:
                msg = (f"includeAssociatedData {value!r} is not supported (this server "
                       f"supports {', '.join(sorted(ASSOCIATED))})")
                if strict:
                    issues.append(error("not-supported", msg + " (Prefer: handling=strict)",
                                        "includeAssociatedData"))
                else:
                    out.warnings.append(msg + "; it was ignored")
            elif out.associated != "relevant":
                out.associated = level_
    for item in _split(by.get("_elements", [])):
        m = _ELEMENT.match(item)
        if m is None or (m.group(1) and m.group(1) not in RESOURCE_TYPES):
            issues.append(error("invalid", f"_elements {item!r} must be [element] or "
                                "[ResourceType].[element], a root element", "_elements"))
            continue
        out.elements.append((m.group(1), m.group(2)))
    if "_outputFormat" in by:
        fmt = by["_outputFormat"][-1].strip()
        if fmt not in OUTPUT_FORMATS:
            issues.append(error("not-supported", f"_outputFormat {fmt!r} is not supported; "
                                f"use {NDJSON} (or application/ndjson, ndjson)",
                                "_outputFormat"))
    if "_since" in by:
        try:
            out.since = parse_instant(by["_since"][-1], "_since")
        except OperationOutcomeError as exc:
            issues.extend(exc.issues)
    if "_until" in by:
        try:
            out.until = parse_instant(by["_until"][-1], "_until")
        except OperationOutcomeError as exc:
            issues.extend(exc.issues)
        if out.since is not None and out.until is not None and out.until <= out.since:
            issues.append(error("invalid", "_until must be after _since", "_until"))
    if "_type" in by:
        types = list(dict.fromkeys(_split(by["_type"])))
        unknown = [t for t in types if t not in RESOURCE_TYPES]
        if unknown:
            issues.append(error("invalid", f"_type names unknown resource types: "
                                f"{', '.join(unknown)}", "_type"))
        out.types = types
    for f in by.get("_typeFilter", []):
        # several filters may share one value, comma-separated; a comma inside a query
        # (OR-ed values) is not followed by "Type?"
        for item in (x.strip() for x in re.split(r",(?=\s*[A-Z][A-Za-z]+\?)", f)):
            rtype, sep, query = item.partition("?")
            if not sep or rtype not in RESOURCE_TYPES or not query:
                issues.append(error("invalid", f"_typeFilter {item!r} must be "
                                    "[ResourceType]?[search parameters]", "_typeFilter"))
                continue
            if out.types is not None and rtype not in out.types:
                issues.append(error("invalid", f"_typeFilter {item!r} is for a type not in "
                                    "_type", "_typeFilter"))
                continue
            out.type_filters.append(item)
    if "patient" in by:
        if level == "system":
            issues.append(error("not-supported", "patient is only for Patient/$export and "
                                "Group/[id]/$export", "patient"))
        ids = []
        for ref in _split(by["patient"]):
            rtype, _, rid = ref.rpartition("/")
            if rtype.split("/")[-1] != "Patient" or not rid:
                issues.append(error("invalid", f"patient {ref!r} must be Patient/[id]",
                                    "patient"))
            ids.append(rid)
        out.patients = list(dict.fromkeys(ids))
    if issues:
        raise OperationOutcomeError(issues, 400)
    return out
