"""Resources of the example Bundles as a server would hold them (urn:uuid references turned
into Type/id), for the page builders' unit tests."""
from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_resources(name: str) -> list[dict]:
    bundle = json.loads((EXAMPLES / name).read_text())
    ids = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['fullUrl'].rsplit(':', 1)[-1]}"
           for e in bundle["entry"]}
    text = json.dumps([e["resource"] for e in bundle["entry"]])
    for urn, ref in ids.items():
        text = text.replace(f'"{urn}"', f'"{ref}"')
    out = json.loads(text)
    for entry, res in zip(bundle["entry"], out):
        res["id"] = entry["fullUrl"].rsplit(":", 1)[-1]
    return out


def load_examples(runtime) -> None:
    """examples/ into the runtime's database through the one pipeline, as `make run` does."""
    import io

    from fhirsvc.cli import example_files, load_files
    failed = load_files(runtime, example_files(EXAMPLES), out=io.StringIO())
    assert failed == 0


def patient_id(runtime, identifier_value: str) -> str:
    ctx = runtime.context()
    found = runtime.services.search.search(ctx, "Patient", [("identifier", identifier_value)])
    (entry,) = found["entry"]
    return entry["resource"]["id"]
