"""Observation/$lastn (R4 observation-operation-lastn): the most recent `max` Observations for
each patient and code, among those matching the search parameters given (patient / subject,
category, code, date, ...).

The matches are found by the search engine (criteria parsed strictly), then grouped here by
subject and code and ordered by effective time (newest first; `issued` when there is no
effective time). The candidates of one request are capped (`max_candidates`, a 400 beyond):
grouping needs them all in memory.
"""
from __future__ import annotations

from urllib.parse import urlencode

from ..outcomes import fail
from .limits import check_params

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Observation-lastn"


def _code_key(obs: dict) -> tuple:
    """Observations have the same code when they share a coding (system|code); the key is the
    first coding's, or the text when there is no coding."""
    code = obs.get("code") or {}
    for coding in code.get("coding") or ():
        if isinstance(coding, dict) and coding.get("code"):
            return ("coding", coding.get("system") or "", coding["code"])
    return ("text", code.get("text") or "")


def _when(obs: dict) -> str:
    """The effective time as comparable text (ISO 8601 sorts as text at one precision)."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(obs.get(key), str):
            return obs[key]
    period = obs.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start") or period.get("end"), str):
        return period.get("start") or period.get("end")
    timing = obs.get("effectiveTiming") or {}
    events = timing.get("event") if isinstance(timing, dict) else None
    if isinstance(events, list) and events and isinstance(events[-1], str):
        return events[-1]
    return obs.get("issued") if isinstance(obs.get("issued"), str) else ""


def lastn(engine, uow, params: list[tuple[str, str]], base_url: str,
          max_candidates: int, compartment: tuple[str, str] | None = None) -> dict:
    max_n = 1
    criteria: list[tuple[str, str]] = []
    for name, value in params:
        if name == "max":
            if not value.isdigit() or int(value) < 1 or int(value) > 10_000:
                raise fail(400, "invalid", f"max must be a positive integer (at most 10000), "
                           f"not {value[:30]!r}", "max")
            max_n = int(value)
        elif name in ("_count", "_offset", "_sort", "_include", "_revinclude"):
            raise fail(400, "not-supported", f"$lastn does not take {name}", name)
        else:
            criteria.append((name, value))
    check_params(criteria, engine.limits)
    query = engine.parser.parse("Observation", criteria, base_url=base_url, strict=True,
                                compartment=compartment)
    page = uow.search.find(query.criteria, limit=max_candidates)
    if page.has_next:
        raise fail(400, "too-costly", f"$lastn would group more than {max_candidates} "
                   "Observations; narrow it by patient, code or category")
    got = uow.resources.read_many(page.pks)
    groups: dict[tuple, list] = {}
    for pk in page.pks:
        stored = got.get(pk)
        if stored is None or stored.deleted:
            continue
        obs = stored.resource()
        subject = (obs.get("subject") or {}).get("reference", "")
        groups.setdefault((subject, _code_key(obs)), []).append((_when(obs), stored, obs))
    entries = []
    for key in sorted(groups, key=lambda k: (k[0], k[1])):
        newest = sorted(groups[key], key=lambda t: (t[0], t[1].last_updated), reverse=True)
        for _when_, stored, obs in newest[:max_n]:
            entries.append({"fullUrl": f"{base_url}/Observation/{stored.resource_id}",
                            "resource": obs, "search": {"mode": "match"}})
    self_url = f"{base_url}/Observation/$lastn" + (f"?{urlencode(params)}" if params else "")
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
            "link": [{"relation": "self", "url": self_url}], "entry": entries}
