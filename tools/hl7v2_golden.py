"""What the HL7 v2 converter makes of every message we can reach, as plain JSON: the Bundle,
the entry metadata the merge step reads, the warnings, or the errors of a refused message.
`tests/hl7v2/test_convert_golden.py` compares the converter against the snapshots written here,
so that speeding the converter up (or refactoring it) provably changes no output.

    python tools/hl7v2_golden.py --write DIR     # regenerate the snapshots (a mapping change)

Two kinds of snapshot, in tests/hl7v2/golden/:
- examples/<message>.json: the whole output for our own messages (examples/hl7v2/), readable,
  so that a deliberate mapping change shows in review as a diff of the outputs;
- shared_digests.json: a SHA-256 per message of ../shared/conformance/hl7v2/messages (their
  content is not ours to commit; the digest of our output is). A mismatch names the message;
  regenerate with main's converter beside the branch's to see the difference.

Each message is converted under several converter settings (plain; shipped ConceptMaps,
Z-segments kept, a default offset; a terminology that knows few codes), so that the
code-system checks, translations and profile claims are covered as well.

It imports `fhirsvc` from the path first, so it can snapshot another checkout's converter:
`PYTHONPATH=<checkout> python tools/hl7v2_golden.py --write DIR`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "hl7v2"
SHARED = ROOT.parent / "shared" / "conformance" / "hl7v2" / "messages"
GOLDEN = ROOT / "tests" / "hl7v2" / "golden"
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))   # after PYTHONPATH: another checkout's fhirsvc wins

# A small, fixed terminology, so that the snapshots do not depend on the R4 definitions: v2-0203
# knows the usual identifier types only, and "lab tests" are the LOINC codes of calcium and
# creatinine.
_KNOWN_0203 = {"MR", "VN", "AN", "SS", "DL", "PI", "PLAC", "FILL", "PN", "PT"}
_LAB_TESTS = {"17861-6", "2160-0"}


def _code_known(system, code):
    if system == "http://terminology.hl7.org/CodeSystem/v2-0203":
        return code in _KNOWN_0203
    return None


def _contains(vs, system, code):
    return system == "http://loinc.org" and code in _LAB_TESTS


def converters() -> dict:
    from fhirsvc.hl7v2.conceptmaps import ConceptMapIndex
    from fhirsvc.hl7v2.convert import Converter
    from fhirsvc.hl7v2.mappings import Mappings
    maps = Mappings.load()
    translate = ConceptMapIndex(maps.conceptmaps).translate
    return {
        "plain": Converter(maps),
        "maps-z-offset": Converter(maps, translate=translate, z_segments="keep",
                                   default_offset="+01:00"),
        "terminology": Converter(maps, translate=translate, contains=_contains,
                                 code_known=_code_known),
    }


def _problems(ps) -> list:
    return [[p.code, p.severity, str(p.location) if p.location else None, p.message]
            for p in ps]


def snapshot(raw: bytes, convs: dict) -> dict:
    """{setting: [one output per message in raw]} (or the parse error)."""
    from fhirsvc.hl7v2 import Hl7v2Error, parse
    try:
        messages = parse(raw)
    except Hl7v2Error as exc:
        return {"parse_error": {"reject": exc.reject, "problems": _problems(exc.problems)}}
    out: dict = {}
    for name, conv in convs.items():
        outs = []
        for msg in messages:
            try:
                c = conv.convert(msg)
            except Hl7v2Error as exc:
                outs.append({"error": {"reject": exc.reject, "problems": _problems(exc.problems)}})
                continue
            outs.append({
                "bundle": c.bundle, "warnings": _problems(c.warnings),
                "meta": [{"location": str(m.location), "rtype": m.rtype, "alias": m.alias,
                          "merge": m.merge, "cleared": sorted(m.cleared),
                          "owned": sorted(m.owned), "merge_into": m.merge_into,
                          "query": m.query} for m in c.meta]})
        out[name] = outs
    return out


def digest(snap: dict) -> str:
    return hashlib.sha256(json.dumps(snap, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def examples() -> dict[str, bytes]:
    """Our own messages: examples/hl7v2/ and the benchmark's ORU^R01 (10 OBX)."""
    saved = list(sys.path)      # bench_hl7v2 puts this checkout first; keep the caller's order
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_hl7v2 import oru
    finally:
        sys.path[:] = saved
    out = {p.stem: p.read_bytes() for p in sorted(EXAMPLES.glob("*.hl7"))}
    out["bench-oru-r01"] = oru("C1", "1").encode()
    return out


def shared_paths() -> list[Path]:
    return sorted(SHARED.glob("*.hl7"))


def write(out: Path) -> None:
    convs = converters()
    (out / "examples").mkdir(parents=True, exist_ok=True)
    for name, raw in examples().items():
        (out / "examples" / (name + ".json")).write_text(
            json.dumps(snapshot(raw, convs), indent=1, ensure_ascii=False) + "\n", "utf-8")
    digests = {p.name: digest(snapshot(p.read_bytes(), convs)) for p in shared_paths()}
    if digests:
        (out / "shared_digests.json").write_text(json.dumps(digests, indent=1) + "\n", "utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", type=Path, default=GOLDEN, help="the snapshot folder")
    args = ap.parse_args(argv)
    write(args.write)
    import fhirsvc
    print(f"snapshots of {Path(fhirsvc.__file__).parent} written to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
