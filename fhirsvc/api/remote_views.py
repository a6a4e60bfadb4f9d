"""`POST [base]/$remote-pull`: start a pull from a configured remote endpoint (a job), and
`GET [base]/$remote-pull/<job>`: its state (202 while it runs, 200 with the result).

Parameters in: endpoint (valueString), one of patient / search (valueString) or bulk
(valueBoolean), since (valueInstant). The answer to the kick-off is 202 with an
OperationOutcome and `Content-Location` naming the status URL.
"""
from __future__ import annotations

import orjson
from flask import request

from ..outcomes import OperationOutcomeError, error, information
from ..wire import parse_json
from .negotiation import fhir_response, outcome_response, request_json

# the guide's OperationDefinition (profiles/input/fsh/operations-exchange.fsh)
PULL_DEFINITION = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/remote-pull"


def _parameters(body) -> dict:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise OperationOutcomeError(error("invalid", "$remote-pull takes a Parameters resource",
                                          "Parameters"), 400)
    out = {}
    for i, p in enumerate(body.get("parameter", [])):
        name = p.get("name")
        values = [v for k, v in p.items() if k.startswith("value")]
        if name not in ("endpoint", "patient", "search", "bulk", "since") or len(values) != 1:
            raise OperationOutcomeError(error(
                "invalid", f"unknown parameter {name!r} or not one value (takes endpoint, "
                "patient, search, bulk, since)", f"Parameters.parameter[{i}]"), 400)
        out[name] = values[0]
    return out


def remote_pull():
    from .views import context, services
    args = _parameters(parse_json(request_json(request)))
    if "endpoint" not in args:
        raise OperationOutcomeError(error("required", "$remote-pull needs the endpoint's name",
                                          "Parameters.parameter"), 400)
    mode = "patient" if "patient" in args else "search" if "search" in args else \
        "bulk" if args.get("bulk") is True else "types"
    ctx = context()
    job = services().remote.start_pull(ctx, args["endpoint"], mode=mode,
                                       query=args.get("search"), patient=args.get("patient"),
                                       since=args.get("since"))
    return outcome_response([information("informational", f"remote-pull job {job.id} queued")],
                            202, {"Content-Location": f"{ctx.base_url}/$remote-pull/{job.id}"})


def remote_pull_status(job_id):
    from .views import context, services
    if not job_id.isdigit():
        raise OperationOutcomeError(error("not-found", f"No job {job_id!r}"), 404)
    job = services().remote.job(context(), int(job_id))
    if not job.terminal:
        return outcome_response([information("informational", f"job {job.id}: {job.state}, "
                                             f"{job.progress_text()}")], 202,
                                {"X-Progress": job.progress_text()[:200], "Retry-After": "5"})
    params = [{"name": "state", "valueCode": job.state}]
    if job.result is not None:
        params.append({"name": "result", "valueString": orjson.dumps(job.result).decode()})
    if job.error:
        params.append({"name": "error", "valueString": job.error})
    return fhir_response({"resourceType": "Parameters", "parameter": params}, 200)
