"""The converter's output does not change unless a mapping change means it to: every message of
examples/hl7v2/ (and the benchmark's ORU) against its committed snapshot, field by field, and
every message of ../shared/conformance/hl7v2/messages against the digest of main's output
(tools/hl7v2_golden.py; regenerate there after a deliberate mapping change)."""
from __future__ import annotations

import json

import pytest

from tools import hl7v2_golden as golden

EXAMPLES = golden.examples()
DIGESTS = json.loads((golden.GOLDEN / "shared_digests.json").read_text("utf-8")) \
    if (golden.GOLDEN / "shared_digests.json").exists() else {}


@pytest.fixture(scope="module")
def convs():
    return golden.converters()


def _json(x):
    """Through JSON, as the snapshot was written (tuples become lists)."""
    return json.loads(json.dumps(x, ensure_ascii=False))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_match_their_snapshot(convs, name):
    expected = json.loads((golden.GOLDEN / "examples" / f"{name}.json").read_text("utf-8"))
    actual = _json(golden.snapshot(EXAMPLES[name], convs))
    assert actual.keys() == expected.keys()
    for setting in expected:
        for i, (a, e) in enumerate(zip(actual[setting], expected[setting])):
            if "bundle" in e:   # entry by entry, so a failure names the resource
                assert len(a["bundle"]["entry"]) == len(e["bundle"]["entry"]), (setting, i)
                for ae, ee in zip(a["bundle"]["entry"], e["bundle"]["entry"]):
                    assert ae == ee, (setting, i, ee["fullUrl"])
            assert a == e, (setting, i)
        assert len(actual[setting]) == len(expected[setting])


@pytest.mark.skipif(not golden.shared_paths(), reason="no shared conformance messages here")
def test_every_shared_message_converts_as_main_did(convs):
    paths = golden.shared_paths()
    assert {p.name for p in paths} == set(DIGESTS), "messages added or gone: regenerate"
    changed = [p.name for p in paths
               if golden.digest(_json(golden.snapshot(p.read_bytes(), convs))) != DIGESTS[p.name]]
    assert not changed, f"output changed for {changed} (tools/hl7v2_golden.py)"


def test_the_snapshot_notices_a_change(convs):
    """The comparison can fail: one character of one message changes the digest."""
    name = "bench-oru-r01"
    raw = EXAMPLES[name].replace(b"9.1|", b"9.2|", 1)
    assert golden.digest(_json(golden.snapshot(raw, convs))) != \
        golden.digest(_json(golden.snapshot(EXAMPLES[name], convs)))
