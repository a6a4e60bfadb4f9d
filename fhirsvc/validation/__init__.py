"""Validation seam: `Validator.validate(resource, profiles) -> list[Issue]`.

Every write goes through `Validator.validate` before anything is stored. This is the interim
structural check with the `fhir.resources` R4B models (types, unknown elements, dates that do
not exist); the profile-aware validator replaces the body behind the same signature.
"""
from __future__ import annotations

from typing import Sequence

from ..outcomes import Issue, error
from .structural import structural_issues


class Validator:
    def __init__(self, strict_profiles: bool = False):
        self.strict_profiles = strict_profiles

    def validate(self, resource: dict, profiles: Sequence[str] = ()) -> list[Issue]:
        """Issues for one resource; expressions start at its resourceType."""
        if not isinstance(resource, dict):
            return [error("structure", "A resource must be a JSON object")]
        return structural_issues(resource)


def validate(resource: dict, profiles: Sequence[str] = ()) -> list[Issue]:
    return Validator().validate(resource, profiles)
