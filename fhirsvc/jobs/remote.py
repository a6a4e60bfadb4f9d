"""The `remote-pull` and `remote-push` job kinds: thin doors onto the remote service
(fhirsvc/services/remote.py), which does the work; here its cursor, checkpoints and sleep come
from the job context, and its failures become job outcomes.

pull params: endpoint, mode (types | search | patient | bulk), query, patient, since.
push params: endpoint and one of patient, group, query.
A pull checkpoints after every page it stored (its cursor: the searches left and the next
link, or the bulk status URL, manifest, file and line): a crash resumes there, and pages
replayed store nothing new. A remote that answers 429 / 503 beyond the client's retries puts
the job back in the queue for later without using up an attempt.
"""
from __future__ import annotations

from ..context import DOOR_WORKER
from .context import JobError
from .kinds import JobKind


def _progress(ctx):
    from ..services.remote import Progress
    return Progress(cursor=ctx.cursor, checkpoint=ctx.checkpoint, sleep=ctx.sleep)


def _run(kind, job, ctx, method: str, check):
    from ..outcomes import OperationOutcomeError
    from ..remote import RemoteError
    from ..services.remote import RemoteFailure
    try:
        params = check(job.params)
    except ValueError as exc:
        raise JobError(str(exc)) from None
    runtime = ctx.runtime
    rctx = runtime.context(DOOR_WORKER, caller=job.requested_by)
    try:
        return getattr(runtime.services.remote, method)(rctx, params, _progress(ctx))
    except RemoteFailure as exc:
        raise JobError(str(exc)) from None
    except OperationOutcomeError as exc:  # e.g. the endpoint was removed, a 404 locally
        raise JobError(str(exc)) from None
    except RemoteError as exc:
        if exc.status in (429, 503):  # still throttled after the client's retries: later,
            # when the remote said (at least a second), else in a minute; no attempt used up
            from .context import RetryLater
            wait = 60.0 if exc.retry_after is None else max(1.0, exc.retry_after)
            raise RetryLater(wait, str(exc)) from None
        raise


class RemotePull(JobKind):
    name = "remote-pull"
    max_attempts = 5
    retry_backoff = 30.0

    def parameters(self, params: dict) -> dict:
        from ..services.remote import pull_parameters
        return pull_parameters(params)

    def run(self, job, ctx):
        return _run(self, job, ctx, "run_pull", self.parameters)


class RemotePush(JobKind):
    name = "remote-push"
    max_attempts = 3
    retry_backoff = 30.0

    def parameters(self, params: dict) -> dict:
        from ..services.remote import push_parameters
        return push_parameters(params)

    def run(self, job, ctx):
        return _run(self, job, ctx, "run_push", self.parameters)
