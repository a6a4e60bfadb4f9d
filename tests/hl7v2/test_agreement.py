"""Field-by-field agreement with the 12 expected outputs (tools/hl7v2_agreement.py), held at
thresholds a little under what is measured now, so a regression in a mapping fails here."""
from tools.hl7v2_agreement import measure

# measured 2026-12-03 (issue 10, reports and specimens paired on their codes): overall 51%,
# Patient 71%, Encounter 88%, Observation 37%, DiagnosticReport 71%, Specimen 71% (python -m
# tools.hl7v2_agreement); before the guide's OBX/OBR/SPM rows: 50%, 36%, 64%, 43%
THRESHOLDS = {"Patient": 0.68, "Encounter": 0.85, "Observation": 0.35,
              "DiagnosticReport": 0.70, "Specimen": 0.70}


def test_agreement_thresholds():
    result = measure()
    assert result["overall"] >= 0.50, result["overall"]
    for rtype, floor in THRESHOLDS.items():
        t = result["by_type"][rtype]
        assert t["compared"] > 0 and t["ratio"] >= floor, (rtype, t)
    # the seed-style lab message agrees almost completely
    assert result["files"]["ms-LAB-ORU-1"]["agree"] >= 60
