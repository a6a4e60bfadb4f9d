"""`$validate` (Resource-validate, R4): a resource, or a Parameters resource carrying it, its
profiles and the mode, checked by the same validator that gates every write. Nothing is
stored; the answer is the list of issues."""
from __future__ import annotations

from ..outcomes import Issue, error, fail, information
from ..wire import check_type

MODES = (None, "create", "update", "delete", "profile")
VALIDATE_DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


class ValidateService:
    def __init__(self, db, validator, sync, guard=None):
        self.db = db
        self.validator = validator
        self._sync = sync
        self.guard = guard  # fhirsvc.security.Guard (None: no checks, unit tests)

    def validate(self, ctx, rtype: str, rid: str | None, body) -> list[Issue]:
        check_type(rtype)
        resource, profiles, mode = _parameters(rtype, body)
        if self.guard is not None:
            # nothing is stored, but the answer speaks of the type (and, for mode=delete, of
            # a stored instance): the caller must hold some access to it
            self.guard.require_any(ctx, rtype, "d" if mode == "delete" else "cur")
        self._sync()
        if mode == "delete":
            if rid is None:
                raise fail(400, "required", "$validate with mode=delete needs an instance "
                           "(POST /Type/id/$validate)")
            with self.db.unit_of_work() as uow:
                current = uow.resources.read(rtype, rid)
                if current is not None and self.guard is not None and not current.deleted:
                    self.guard.check(ctx, uow, "d", current)
            if current is None:
                raise fail(404, "not-found", f"{rtype}/{rid} is not known")
            if current.deleted:
                raise fail(410, "deleted", f"{rtype}/{rid} was deleted (version "
                           f"{current.version})")
            return [information("informational", f"{rtype}/{rid} can be deleted")]
        if not isinstance(resource, dict):
            raise fail(400, "required", "$validate needs the resource to check (the body, or a "
                       "'resource' parameter)")
        if resource.get("resourceType") != rtype:
            raise fail(400, "invalid", f"Resource is a {resource.get('resourceType')!r}, the url "
                       f"names {rtype!r}", "resourceType")
        issues = list(self.validator.validate(resource, profiles,
                                              strict=ctx.require_guide_profiles))
        if mode == "update" and rid is not None and resource.get("id") not in (None, rid):
            issues.append(error("invalid", f"Resource id {resource.get('id')!r} differs from "
                                f"{rid!r}", f"{rtype}.id"))
        return issues


def _parameters(rtype: str, body) -> tuple[dict | None, list[str], str | None]:
    """(resource, profiles, mode) from the body: a resource, or Parameters carrying one."""
    if not isinstance(body, dict):
        raise fail(400, "structure", "$validate takes a resource or a Parameters resource")
    if body.get("resourceType") != "Parameters" or rtype == "Parameters":
        return body, [], None
    resource, profiles, mode = None, [], None
    for p in body.get("parameter") or []:
        if not isinstance(p, dict):
            continue
        name = p.get("name")
        if name == "resource":
            resource = p.get("resource")
        elif name == "profile":
            profiles.append(p.get("valueUri") or p.get("valueCanonical") or "")
        elif name == "mode":
            mode = p.get("valueCode") or p.get("valueString")
    if mode not in MODES:
        raise fail(400, "invalid", f"$validate mode must be create, update, delete or profile, "
                   f"not {mode!r}", "Parameters.parameter")
    return resource, [p for p in profiles if p], mode
