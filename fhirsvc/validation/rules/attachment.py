"""Attachments (value scope, type Attachment): the stated size and hash agree with the data.

Attachment.size is the number of bytes of the decoded data and Attachment.hash the base64 SHA-1
of those bytes (R4 datatypes.html#Attachment); when both the data and the statement are there,
they must agree. Data that is not base64 is the base64Binary primitive's error, not this one."""
from __future__ import annotations

import base64
import binascii
import hashlib

from ..run import issue


def _decoded(data: str) -> bytes | None:
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def attachment(value, element, type_code, location, run):
    if value.__class__ is not dict or not isinstance(value.get("data"), str):
        return ()
    raw = _decoded(value["data"])
    if raw is None:
        return ()
    out = []
    size = value.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size != len(raw):
        out.append(issue("error", "value", f"Stated Attachment Size {size:,} does not match "
                         f"actual attachment size {len(raw):,}", location))
    digest = value.get("hash")
    if isinstance(digest, str):
        want = base64.b64encode(hashlib.sha1(raw).digest()).decode()
        if "".join(digest.split()) != want:
            out.append(issue("error", "value", "Stated Attachment Hash does not match the SHA-1 "
                             f"of the data (expected {want})", location))
    return out
