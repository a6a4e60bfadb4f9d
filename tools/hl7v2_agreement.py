"""Field-by-field agreement of the HL7 v2 conversion with the 12 expected outputs in
../shared/conformance/hl7v2/expected/ (Microsoft FHIR-Converter), per resource type.

    python -m tools.hl7v2_agreement [--shared DIR] [--json] [--misses TYPE]

`--misses Observation` lists, per message, each expected field that disagrees (expected value,
ours, or "unpaired" when we made no resource of that code), to see which class a gap is in.

Only the fields a receiving system relies on (the folder's SOURCES.md) are compared, and only
where the expected output has them: Patient identifiers, names, gender, birthDate, address,
telecom; Encounter class, status, period, location; Observation code, value, unit, status,
effective time, reference range, interpretation; DiagnosticReport code, status, issued, result
links; Specimen type and collection time. Observations and DiagnosticReports are paired on their
code, Specimens on their type (the candidate agreeing on most fields first), other types in
order. Set-valued fields (identifiers, telecoms, codings) agree when every expected value is
present; a reference range given as text only agrees on its text. A message answered AE/AR
counts every expected field as disagreeing.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / ".." / "shared" / "conformance" / "hl7v2"


def _codes(cc) -> set:
    if isinstance(cc, list):
        return set().union(*(_codes(c) for c in cc)) if cc else set()
    return {c.get("code") for c in (cc or {}).get("coding", ()) if c.get("code")}


def _when(v):
    if not v:
        return None
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return v[:10]
    if len(v) <= 10:
        return v  # a date (or year, year-month): compared as written
    # a time: the same instant is the same value, whatever offset it is written in
    return dt.astimezone(timezone.utc).isoformat() if dt.tzinfo else dt.isoformat()


def _value(o):
    for k in ("valueQuantity", "valueString", "valueCodeableConcept", "valueDateTime",
              "valueRatio"):
        if k in o:
            v = o[k]
            if k == "valueQuantity":
                return ("q", float(v.get("value")) if v.get("value") is not None else None)
            if k == "valueCodeableConcept":
                return ("c", frozenset(_codes(v)) or v.get("text"))
            if k == "valueRatio":
                return ("r", json.dumps(v, sort_keys=True))
            return ("s", str(v).strip())
    return None


def _range(o):
    """(low, high, text) of the first reference range, None without one."""
    rr = (o.get("referenceRange") or [{}])[0]
    if not rr:
        return None
    return (rr.get("low", {}).get("value"), rr.get("high", {}).get("value"),
            (rr.get("text") or "").strip() or None)


def _same_range(ev, av) -> bool:
    """The same range: by low / high where the expected output has them, else by its text."""
    if av is None:
        return False
    if ev[0] is not None or ev[1] is not None:
        return ev[:2] == av[:2]
    return ev[2] == av[2]


FIELDS = {
    "Patient": {
        "identifier": lambda r: frozenset(i.get("value") for i in r.get("identifier", ())),
        "name": lambda r: tuple((n.get("family"), tuple(n.get("given", ())))
                                for n in r.get("name", ())[:1]),
        "gender": lambda r: r.get("gender"),
        "birthDate": lambda r: r.get("birthDate"),
        "address": lambda r: tuple((a.get("city"), a.get("postalCode"))
                                   for a in r.get("address", ())[:1]),
        "telecom": lambda r: frozenset(t.get("value") for t in r.get("telecom", ())),
    },
    "Encounter": {
        "class": lambda r: (r.get("class") or {}).get("code"),
        "status": lambda r: r.get("status"),
        "period.start": lambda r: _when((r.get("period") or {}).get("start")),
        "period.end": lambda r: _when((r.get("period") or {}).get("end")),
        "location": lambda r: bool(r.get("location")),
    },
    "Observation": {
        "code": lambda r: frozenset(_codes(r.get("code"))),
        "value": _value,
        "unit": lambda r: (r.get("valueQuantity") or {}).get("unit"),
        "status": lambda r: r.get("status"),
        "effective": lambda r: _when(r.get("effectiveDateTime")),
        "referenceRange": _range,
        "interpretation": lambda r: frozenset(_codes(r.get("interpretation", []))),
    },
    "DiagnosticReport": {
        "code": lambda r: frozenset(_codes(r.get("code"))),
        "status": lambda r: r.get("status"),
        "issued": lambda r: _when(r.get("issued")),
        "result": lambda r: len(r.get("result", ())),
    },
    "Specimen": {
        "type": lambda r: frozenset(_codes(r.get("type"))),
        "collection": lambda r: _when((r.get("collection") or {}).get("collectedDateTime")),
    },
}


# fields compared otherwise than by equality
SAME = {("Observation", "referenceRange"): _same_range}
# resources of these types are paired on these codes (the rest in order)
PAIR_ON = {"Observation": lambda r: _codes(r.get("code")),
           "DiagnosticReport": lambda r: _codes(r.get("code")),
           "Specimen": lambda r: _codes(r.get("type"))}


def _present(v) -> bool:
    return v not in (None, "", (), frozenset(), False, 0) and v != ((None, ()),) \
        and v != ((None, None),)


def _agrees(rtype, name, ev, av) -> bool:
    same = SAME.get((rtype, name))
    if same is not None:
        return same(ev, av)
    # sets (identifiers, telecoms, codes): every expected value is there
    if isinstance(ev, frozenset) and isinstance(av, frozenset):
        return ev <= av
    return av == ev


def _score(rtype, e, a) -> int:
    return sum(_agrees(rtype, n, g(e), g(a)) for n, g in FIELDS[rtype].items()
               if _present(g(e)))


def _pair(rtype, expected, actual):
    """Expected and actual resources paired: Observations and DiagnosticReports on a shared
    code, Specimens on a shared type, each with the unpaired candidate that agrees on most
    fields (two results of one code are told apart by their values); other types in order."""
    key = PAIR_ON.get(rtype)
    if key is None:
        return list(zip(expected, actual + [None] * (len(expected) - len(actual))))
    pool = list(actual)
    out = []
    for e in expected:
        code = key(e)
        hits = [a for a in pool if key(a) & code]
        hit = max(hits, key=lambda a: _score(rtype, e, a)) if hits else None
        if hit is not None:
            pool.remove(hit)
        out.append((e, hit))
    return out


def measure(shared: Path = SHARED, converter=None) -> dict:
    from fhirsvc.hl7v2 import Hl7v2Error, parse
    from fhirsvc.hl7v2.convert import Converter
    converter = converter or Converter()
    totals: dict = {t: {"agree": 0, "compared": 0, "fields": {}} for t in FIELDS}
    files = {}
    for exp_path in sorted((shared / "expected").glob("*.json")):
        msg_path = shared / "messages" / (exp_path.stem + ".hl7")
        expected = json.loads(exp_path.read_text("utf-8"))
        by_type_exp: dict = {}
        for e in expected.get("entry", ()):
            r = e.get("resource", {})
            by_type_exp.setdefault(r.get("resourceType"), []).append(r)
        try:
            (msg,) = parse(msg_path.read_bytes())
            bundle = converter.convert(msg).bundle
            outcome = "converted"
        except Hl7v2Error as exc:
            bundle, outcome = {"entry": []}, f"{'AR' if exc.reject else 'AE'}: {exc}"[:120]
        by_type_act: dict = {}
        for e in bundle["entry"]:
            r = e["resource"]
            by_type_act.setdefault(r["resourceType"], []).append(r)
        agree = compared = 0
        misses = []
        for rtype, fields in FIELDS.items():
            for e, a in _pair(rtype, by_type_exp.get(rtype, []), by_type_act.get(rtype, [])):
                for name, get in fields.items():
                    ev = get(e)
                    if not _present(ev):
                        continue
                    av = get(a) if a is not None else None
                    ok = a is not None and _agrees(rtype, name, ev, av)
                    f = totals[rtype]["fields"].setdefault(name, [0, 0])
                    f[0] += ok
                    f[1] += 1
                    totals[rtype]["agree"] += ok
                    totals[rtype]["compared"] += 1
                    agree += ok
                    compared += 1
                    if not ok:
                        key = sorted(PAIR_ON[rtype](e)) if rtype in PAIR_ON else ""
                        misses.append((rtype, key, name, ev, av if a is not None else "unpaired"))
        files[exp_path.stem] = {"outcome": outcome, "agree": agree, "compared": compared,
                                "misses": misses}
    for t in totals.values():
        t["ratio"] = round(t["agree"] / t["compared"], 3) if t["compared"] else None
    all_agree = sum(t["agree"] for t in totals.values())
    all_compared = sum(t["compared"] for t in totals.values())
    return {"by_type": totals, "files": files,
            "overall": round(all_agree / all_compared, 3) if all_compared else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--misses", metavar="TYPE", help="list the disagreeing fields of TYPE")
    args = ap.parse_args(argv)
    result = measure(args.shared)
    if args.misses:
        for name, f in result["files"].items():
            rows = [m for m in f["misses"] if m[0] == args.misses]
            if rows:
                print(f"{name}: {len(rows)} ({f['outcome']})")
            for _, key, field, ev, av in rows:
                print(f"  {','.join(key) or '-'} {field}: expected {ev!r}, ours {av!r}")
        return 0
    if args.json:
        print(json.dumps(result, indent=2, default=list))
        return 0
    for rtype, t in result["by_type"].items():
        if not t["compared"]:
            continue
        fields = ", ".join(f"{k} {a}/{n}" for k, (a, n) in t["fields"].items())
        print(f"{rtype:17} {t['agree']:4}/{t['compared']:<4} {t['ratio']:.0%}   {fields}")
    print(f"{'overall':17} {result['overall']:.0%}")
    for name, f in result["files"].items():
        print(f"  {name}: {f['agree']}/{f['compared']} ({f['outcome']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
