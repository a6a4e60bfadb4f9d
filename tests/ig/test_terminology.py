"""Every code the guide and its valid examples use is either verified in terminology.md or
defined (with a definition) in the guide's own CodeSystem."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from .conftest import EXAMPLES, PROFILES, VALID
from .helpers import CIG

# The shared reference sits beside the checkout (<checkout>/../shared); FHIRSVC_TERMINOLOGY_MD overrides.
TERMINOLOGY = [Path(p) for p in [os.environ.get("FHIRSVC_TERMINOLOGY_MD", "")] if p] + \
    [Path(__file__).resolve().parents[3] / "shared" / "reference" / "terminology.md"]
EXTERNAL = {"http://snomed.info/sct", "http://loinc.org", "http://hl7.org/fhir/sid/icd-10-cm",
            "http://hl7.org/fhir/sid/icd-10", "http://www.nlm.nih.gov/research/umls/rxnorm",
            "http://unitsofmeasure.org", "http://dicom.nema.org/resources/ontology/DCM"}


# Codes verified for guide 0.2 (same format, sources named), kept with the guide.
GUIDE_VERIFIED = PROFILES / "terminology-verified.md"


def _lines(p: Path) -> list[str]:
    return [ln for ln in p.read_text().splitlines() if "UNVERIFIED" not in ln and "WEAK" not in ln]


@pytest.fixture(scope="module")
def verified_lines() -> list[str]:
    for p in TERMINOLOGY:
        if p.exists():
            return _lines(p) + _lines(GUIDE_VERIFIED)
    pytest.skip("terminology.md (shared reference) not available")


def test_guide_verified_codes_name_their_source():
    rows = [ln for ln in GUIDE_VERIFIED.read_text().splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    assert rows
    for ln in rows:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert len(cells) == 5 and cells[2] and cells[4].startswith("A"), ln
        assert ".json" in cells[4], ("a verified code names the file it was read in", ln)


def codings(node, out: set):
    if isinstance(node, dict):
        if isinstance(node.get("system"), str) and isinstance(node.get("code"), str):
            out.add((node["system"], node["code"]))
        for v in node.values():
            codings(v, out)
    elif isinstance(node, list):
        for x in node:
            codings(x, out)
    return out


def used_codes(compiled, bundles) -> set[tuple[str, str]]:
    out: set = set()
    for r in compiled.values():
        if r["resourceType"] == "StructureDefinition":
            codings(r.get("differential", {}), out)
        elif r["resourceType"] == "ValueSet":
            for inc in r["compose"]["include"]:
                out.update((inc["system"], c["code"]) for c in inc.get("concept", []))
        elif r["resourceType"] == "ConceptMap":
            for g in r["group"]:
                for el in g["element"]:
                    out.add((g["source"], el["code"]))
                    out.update((g["target"], t["code"]) for t in el.get("target", []))
    for b in bundles.values():
        codings(b, out)
    return out


def test_guide_codesystem_concepts_have_definitions(compiled):
    cs = compiled[CIG]
    assert cs["content"] == "complete"
    for c in cs["concept"]:
        assert c.get("definition"), c["code"]


def test_every_code_is_verified_or_local(compiled, bundles, verified_lines):
    local = {c["code"] for c in compiled[CIG]["concept"]}
    text = "\n".join(verified_lines)
    bad = []
    for system, code in sorted(used_codes(compiled, bundles)):
        if system == CIG:
            ok = code in local
        elif system in EXTERNAL or system.startswith("http://terminology.hl7.org/CodeSystem/"):
            ok = re.search(r"(?<![\w.-])" + re.escape(code) + r"(?![\w-])", text) is not None
        else:
            ok = False
        if not ok:
            bad.append((system, code))
    assert not bad, bad


def test_no_unverified_code_sneaks_in(compiled, bundles):
    # codes the research explicitly flags as unverified or weak must not appear as codes
    flagged = {("http://snomed.info/sct", "60389000"), ("http://snomed.info/sct", "86854008"),
               ("http://snomed.info/sct", "247479008"), ("http://loinc.org", "13068-2"),
               ("http://snomed.info/sct", "128459005"), ("http://hl7.org/fhir/sid/icd-10-cm", "E83.59")}
    assert not flagged & used_codes(compiled, bundles)


def test_valid_examples_listed(bundles):
    assert set(bundles) == set(VALID) and (EXAMPLES / "search-facts.json").exists()
    json.loads((EXAMPLES / "search-facts.json").read_text())
