"""Signatures (value scope, type Signature): the data is base64 of the signature document.

R4 Signature.data is base64Binary. A JWS in its compact serialisation (three base64url parts
joined by dots, what JOSE libraries emit) pasted as is is not base64: the base64Binary check
reports the value; this rule says what it is and what to do. Verifying a signature needs the
signer's certificate, which the reference is given per case (not available to a validator of
instances alone), so verification is not attempted: an information issue says so."""
from __future__ import annotations

import re

from ..run import issue

_JWS_COMPACT = re.compile(r"^[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+$")


def signature(value, element, type_code, location, run):
    if value.__class__ is not dict or not isinstance(value.get("data"), str):
        return ()
    data = value["data"]
    if _JWS_COMPACT.match(data):
        return (issue("error", "invalid", "The signature data is not valid base64 content, but "
                      "it looks like native application/jose (a JWS compact serialisation): "
                      "Signature.data must be its base64 encoding", location),)
    return (issue("information", "informational", "The signature is not verified (no "
                  "certificate for its signer is available to this validator)", location),)
