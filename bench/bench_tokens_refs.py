"""CPU of the two search paths the identity fixes touch, as one whole process: parsing
conditional token criteria (`identifier=sys|v`: the per-parameter decision whether a system
may be absent, SearchRegistry.system_implied) and extracting a Provenance's reference rows
(each now with the version it names). No database.

    python bench/bench_tokens_refs.py 20000     # 40,000 criteria parsed, 20,000 Provenances

Compare with the same script run from another checkout (PYTHONPATH=<checkout>): the work is
identical, only the code differs.
"""
from __future__ import annotations

import sys

from fhirsvc.definitions.registry import default_registry
from fhirsvc.search import Indexer, SearchRegistry
from fhirsvc.search.parse import SearchParser


def main(n: int) -> None:
    reg = SearchRegistry.load()
    parser = SearchParser(reg, terminology=default_registry())
    for i in range(n):
        parser.criteria("Patient", [("identifier", f"urn:mrn|{i}")])
        parser.criteria("Observation", [("code", f"http://loinc.org|{i}"), ("status", "final")])
    idx = Indexer(reg, full_text=False)
    for i in range(n):
        idx.rows("Provenance", {
            "resourceType": "Provenance", "recorded": "2024-01-01T00:00:00Z",
            "target": [{"reference": f"Patient/p{i}/_history/2"},
                       {"reference": f"Observation/o{i}/_history/1"},
                       {"reference": f"Encounter/e{i}"}],
            "agent": [{"who": {"reference": "Organization/o1"}}]})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
