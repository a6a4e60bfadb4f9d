"""/auth/users: the user directory of the pages (fhirsvc/security/users.py) for
administrators: a bearer token with fhirsvc/admin, the same check as /auth/clients.

    GET    /auth/users              [{"name", "scope", "created", "disabled"}]
    POST   /auth/users              {"name", "password", "scope"} -> 201 (replaces one)
    DELETE /auth/users/NAME         204 | 404

Password hashes never leave the server.
"""
from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app

from ..outcomes import error
from .negotiation import outcome_response


def _directory():
    return current_app.extensions["fhirsvc.runtime"].services.users


def _json(row) -> dict:
    return {"name": row.name, "scope": row.scope, "created": row.created,
            "disabled": bool(row.disabled)}


def _denied():
    from .security import _admin
    return _admin()


def users_list():
    denied = _denied()
    if denied is not None:
        return denied
    return Response(orjson.dumps([_json(r) for r in _directory().list()]), 200,
                    content_type="application/json", headers={"Cache-Control": "no-store"})


def users_add():
    from flask import request
    denied = _denied()
    if denied is not None:
        return denied
    try:
        body = orjson.loads(request.get_data())
        if not isinstance(body, dict):
            raise ValueError("the body is a JSON object: name, password, scope")
        user = _directory().add(str(body.get("name") or ""), str(body.get("password") or ""),
                                str(body.get("scope") or ""))
    except (ValueError, orjson.JSONDecodeError) as exc:
        return outcome_response([error("invalid", f"Cannot add the user: {exc}")], 400)
    return Response(orjson.dumps(_json(_directory().entry(user.name))), 201,
                    content_type="application/json")


def users_remove(name):
    denied = _denied()
    if denied is not None:
        return denied
    if not _directory().remove(name):
        return outcome_response([error("not-found", f"No user {name!r}")], 404)
    return Response(status=204)


def make_users_blueprint() -> Blueprint:
    bp = Blueprint("users", __name__)
    bp.add_url_rule("/auth/users", "users_list", users_list, methods=["GET"])
    bp.add_url_rule("/auth/users", "users_add", users_add, methods=["POST"])
    bp.add_url_rule("/auth/users/<name>", "users_remove", users_remove, methods=["DELETE"])
    return bp
