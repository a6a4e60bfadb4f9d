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


def test_observation_gaps_are_only_the_resources_the_guide_does_not_make():
    """Every Observation field compared on a result we make agrees (issue 10); what is left is
    the reference's Observations the guide has no row for: ADT PDA / ACC (death certificate,
    autopsy, coroner, injury) and the MDM OBX (the guide makes DocumentReference content)."""
    result = measure()
    misses = [(name, m) for name, f in result["files"].items() for m in f["misses"]
              if m[0] == "Observation"]
    assert misses
    assert all(m[4] == "unpaired" for _, m in misses), [x for x in misses if x[1][4] != "unpaired"]
    assert {name for name, _ in misses} <= {"ms-ADT-A01-01", "ms-ADT-A02-01", "ms-ADT-A03-01",
                                            "ms-ADT-A08-01", "ms-ADT-A31-01", "ms-MDM-T02-03"}
    adt = {c for name, m in misses if name.startswith("ms-ADT") for c in m[1]}
    assert adt <= {"death-certificate", "autopsy", "coroner", "injury-incident"}, adt
