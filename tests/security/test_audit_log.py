"""The read-record buffer: sampling keeps every failure, flush waits for the thread's write."""
import threading

from fhirsvc.security.audit import AuditLog


def test_sampling_keeps_failures_and_flush_is_complete(smart_runtime):
    ctx = smart_runtime.context().with_(caller="sampler")
    log = AuditLog(smart_runtime.db, read_sample=0.0, flush_interval=0.01)
    for _ in range(50):
        log.record(ctx, "search-type", status=200, rtype="Patient")
    log.record(ctx, "read", status=403, rtype="Patient", rid="p1", detail="denied")
    log.record(ctx, "read", status=500, rtype="Patient", rid="p1")
    log.read_sample = 1.0
    threads = [threading.Thread(target=lambda: [log.record(ctx, "read", status=200)
                                                for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.flush()
    with smart_runtime.db.unit_of_work() as uow:
        total, _ = uow.audit.find(equals={"client_id": "sampler"}, count=1)
        failed, rows = uow.audit.find(equals={"client_id": "sampler", "outcome": ("4", "8")})
    assert total == 402 and failed == 2
    assert {r.status for r in rows} == {403, 500}
    log.close()
