"""The numbers the cohort paper printed (seed 000, 2007 abstract), as data, so computed values
can be set beside them. A p-value is text as printed: "<0.0005" (a bound), "0.005" (a value,
compared at its printed precision) or "not associated" (compared with 0.05)."""
from __future__ import annotations

STUDY_SYSTEM = "http://fhirsvc.org/fhir/calcinosis/sid/synthetic-cohort"
STUDY_VALUE = "spinal-calcinosis-prevalence-2007"

PAPER_2007 = {
    "groups": {"SSc": 41, "RA": 26, "SLE": 14},
    "prevalence": {("paraspinal-calcinosis", "SSc"): "58.5%", ("intraspinal-calcinosis", "SSc"): "29.3%",
                   ("paraspinal-calcinosis", "RA"): "1/26", ("intraspinal-calcinosis", "RA"): "0/26",
                   ("paraspinal-calcinosis", "SLE"): "0/14", ("intraspinal-calcinosis", "SLE"): "0/14",
                   ("intracranial-calcification", "SSc"): "27%", ("intracranial-calcification", "RA"): "23%",
                   ("intracranial-calcification", "SLE"): "21%"},
    # SSc vs comparator
    "comparisons": {("paraspinal-calcinosis", "RA"): "<0.0005", ("paraspinal-calcinosis", "SLE"): "0.005",
                    ("intraspinal-calcinosis", "RA"): "0.002", ("intraspinal-calcinosis", "SLE"): "0.02",
                    ("intracranial-calcification", "RA"): "not associated",
                    ("intracranial-calcification", "SLE"): "not associated"},
    # within SSc: (feature, spinal calcinosis kind)
    "associations": {("calcinosis-cutis", "paraspinal-calcinosis"): "0.015",
                     ("calcinosis-cutis", "intraspinal-calcinosis"): "0.002",
                     ("raynaud-regular", "paraspinal-calcinosis"): "<0.0005",
                     ("raynaud-regular", "intraspinal-calcinosis"): "0.006",
                     ("digital-ulcer", "paraspinal-calcinosis"): "0.008",
                     ("digital-ulcer", "intraspinal-calcinosis"): "0.007",
                     ("intracranial-calcification", "paraspinal-calcinosis"): "not associated",
                     ("intracranial-calcification", "intraspinal-calcinosis"): "not associated"},
    "notes": {("paraspinal-calcinosis", "SLE"):
              "Not reproducible from the published counts (24/41 vs 0/14): the printed 0.005 is most "
              "likely a misprint of 0.0005; kept as published."},
}

PUBLISHED = {(STUDY_SYSTEM, STUDY_VALUE): PAPER_2007}
