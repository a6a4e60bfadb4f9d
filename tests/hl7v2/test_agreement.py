"""Field-by-field agreement with the 12 expected outputs (tools/hl7v2_agreement.py), held at
thresholds a little under what is measured now, so a regression in a mapping fails here."""
from tools.hl7v2_agreement import measure

# measured 2026-12-03: overall 49%, Patient 71%, Encounter 88%, Observation 36%,
# DiagnosticReport 43%, Specimen 29% (python -m tools.hl7v2_agreement); 2026-12-02: 40%
THRESHOLDS = {"Patient": 0.68, "Encounter": 0.85, "Observation": 0.34,
              "DiagnosticReport": 0.40, "Specimen": 0.25}


def test_agreement_thresholds():
    result = measure()
    assert result["overall"] >= 0.47, result["overall"]
    for rtype, floor in THRESHOLDS.items():
        t = result["by_type"][rtype]
        assert t["compared"] > 0 and t["ratio"] >= floor, (rtype, t)
    # the seed-style lab message agrees almost completely
    assert result["files"]["ms-LAB-ORU-1"]["agree"] >= 60
