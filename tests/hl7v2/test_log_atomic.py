"""The message log row of an accepted message is written in the unit of work of what the message
stored (committed together or not at all), and a message sent again with the same content writes
no new versions; on SQLite and PostgreSQL."""
import pytest

from fhirsvc.storage.unit_of_work import UnitOfWork

MRN = "http://hospital-a.example.org/fhir/sid/mrn"
ORU = ("MSH|^~\\&|LAB|HOSPA|FHIRSVC|X|20240101120000+0100||ORU^R01|{cid}|P|2.5.1\r"
       "PID|1||{pid}^^^HOSPA^MR||Doe^Jane||19520915|F\r"
       "OBR|1|P{pid}^HOSPA-ORD|F{pid}^HOSPA-ORD|24362-6^Panel^LN|||20240101100000+0100\r"
       "OBX|1|NM|17861-6^Calcium^LN||{v1}|mg/dL^^UCUM|||||F\r"
       "OBX|2|NM|2951-2^Sodium^LN||140|mmol/L^^UCUM|||||F\r")


def oru(cid, pid, v1="9.1"):
    return ORU.format(cid=cid, pid=pid, v1=v1)


def patients(runtime, pid):
    found = runtime.services.search.search(runtime.context(door="t"), "Patient",
                                           [("identifier", f"{MRN}|{pid}")])
    return found.get("entry") or []


def observations(runtime, pid):
    ctx = runtime.context(door="t")
    (pat,) = patients(runtime, pid)
    found = runtime.services.search.search(ctx, "Observation", [
        ("subject", f"Patient/{pat['resource']['id']}"), ("_count", "50")])
    out = [e["resource"] for e in found.get("entry") or []]
    return [r.parse() if hasattr(r, "parse") else r for r in out]


def log(runtime, cid):
    return runtime.services.hl7v2.messages(runtime.context(door="t"), sender="LAB^HOSPA",
                                           control_id=cid).entries


def test_a_failure_after_the_log_row_leaves_neither(runtime, monkeypatch):
    hl7 = runtime.services.hl7v2
    ctx = runtime.context(door="mllp")
    commit = UnitOfWork.commit
    seen = []

    def failing_commit(self):
        # the log row is there, in this unit of work, beside the resources; then it fails
        seen.append(self.hl7v2.find(control_id="atom-1")[0])
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        hl7.process(ctx, oru("atom-1", "AT-1"))
    assert seen == [1]
    monkeypatch.setattr(UnitOfWork, "commit", commit)
    assert patients(runtime, "AT-1") == [] and log(runtime, "atom-1") == ()
    # nothing was logged as accepted: the message sent again is stored, not answered from a log
    ack = hl7.process(ctx, oru("atom-1", "AT-1"))
    assert ack.code == "AA" and not ack.duplicate
    assert len(patients(runtime, "AT-1")) == 1
    (entry,) = log(runtime, "atom-1")
    assert entry.outcome == "AA" and entry.provenance == ack.provenance is not None
    # and now a retransmission is answered from the log, storing nothing
    again = hl7.process(ctx, oru("atom-1", "AT-1"))
    assert again.duplicate and again.ack == ack.ack


def test_a_failing_log_write_stores_nothing(runtime, monkeypatch):
    from fhirsvc.storage.hl7v2_log import MessageLog

    def broken(self, entry):
        raise RuntimeError("log table unavailable")

    monkeypatch.setattr(MessageLog, "add", broken)
    with pytest.raises(RuntimeError):
        runtime.services.hl7v2.process(runtime.context(door="mllp"), oru("atom-2", "AT-2"))
    monkeypatch.undo()
    assert patients(runtime, "AT-2") == [] and log(runtime, "atom-2") == ()


def test_the_same_content_sent_again_writes_no_new_versions(runtime):
    hl7 = runtime.services.hl7v2
    ctx = runtime.context(door="mllp")
    first = hl7.process(ctx, oru("same-1", "SA-1"))
    assert first.code == "AA" and first.provenance is not None
    before = {o["id"]: o["meta"]["versionId"] for o in observations(runtime, "SA-1")}
    (pat,) = patients(runtime, "SA-1")
    provenances = runtime.services.search.search(ctx, "Provenance", [("_summary", "count")])

    # a new control id, the same content: logged and accepted, nothing written
    again = hl7.process(ctx, oru("same-2", "SA-1"))
    assert again.code == "AA" and not again.duplicate and again.provenance is None
    assert {o["id"]: o["meta"]["versionId"] for o in observations(runtime, "SA-1")} == before
    (pat2,) = patients(runtime, "SA-1")
    assert pat2["resource"]["meta"]["versionId"] == pat["resource"]["meta"]["versionId"]
    assert runtime.services.search.search(ctx, "Provenance", [("_summary", "count")])[
        "total"] == provenances["total"]
    (entry,) = log(runtime, "same-2")
    assert entry.outcome == "AA" and entry.provenance is None

    # one result corrected: that Observation alone gets a version, the Provenance names it
    fixed = hl7.process(ctx, oru("same-3", "SA-1", v1="9.4"))
    assert fixed.code == "AA" and fixed.provenance is not None
    after = {o["id"]: o["meta"]["versionId"] for o in observations(runtime, "SA-1")}
    changed = {k for k in after if after[k] != before[k]}
    assert len(changed) == 1 and after[next(iter(changed))] == "2"
    prov = runtime.services.resources.read(ctx, *fixed.provenance.split("/")).stored.resource()
    assert [t["reference"] for t in prov["target"]] == [
        f"Observation/{next(iter(changed))}/_history/2"]
