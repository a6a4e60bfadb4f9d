"""The ACK message for a processed message: MSA-1 and one ERR segment per problem.

Original mode (MSH-15 and MSH-16 empty): AA / AE / AR. Enhanced mode: MSH-16 (application
acknowledgement type: AL always, NE never, ER only on error, SU only on success) decides
whether the application acknowledgement is sent; when it is not, the answer is the accept
acknowledgement MSH-15 asks for: CA / CE / CR (a synchronous channel always gets one answer).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from .errors import CODE_TEXT, Problem

SEVERITY_ORDER = {"E": 0, "W": 1, "I": 2}
_COMMIT = {"AA": "CA", "AE": "CE", "AR": "CR"}


def acknowledgement_code(code: str, msg) -> str:
    """AA/AE/AR, or the commit code when enhanced mode does not want the application ack."""
    if msg is None or not msg.enhanced:
        return code
    app = (msg.msh.value(16) or "AL").upper()
    wanted = app == "AL" or (app == "ER" and code != "AA") or (app == "SU" and code == "AA")
    return code if wanted else _COMMIT[code]


def build_ack(msg, code: str, problems: list[Problem], text: str | None = None) -> str:
    """The ACK (segments separated by CR). `msg` None: the message could not be read at all."""
    now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S+0000")
    if msg is not None:
        h = msg.msh
        esc = msg.escape_char
        fields = ["MSH", "^~" + esc + "&", h.raw(5), h.raw(6), h.raw(3), h.raw(4), now, "", f"ACK^{msg.trigger}^ACK" if msg.trigger else "ACK",
                  uuid.uuid4().hex[:20], h.raw(11) or "P", h.raw(12) or "2.5"]
        control = msg.control_id
    else:
        fields = ["MSH", "^~\\&", "", "", "", "", now, "", "ACK", uuid.uuid4().hex[:20], "P",
                  "2.5"]
        control = ""
    segments = ["|".join(fields)]
    errors = sorted(problems, key=lambda p: SEVERITY_ORDER.get(p.severity, 3))
    first_error = next((p for p in errors if p.is_error), None)
    msa_text = text or (first_error.message if first_error else "")
    segments.append("|".join(["MSA", code, _e(control), _e(msa_text[:80])]))
    for p in errors:
        erl = p.location.erl if p.location is not None else ""
        segments.append("|".join([
            "ERR", "", erl, f"{p.code}^{_e(CODE_TEXT.get(p.code, ''))}^HL70357", p.severity,
            "", "", "", _e(p.message)]))
    return "\r".join(segments) + "\r"


def _e(value: str) -> str:
    """Escape text for a field (python-hl7's escaping needs a parsed message; this is the
    five-character table of chapter 2.7)."""
    if not value:
        return ""
    return (value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
            .replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", " ").replace("\n", " "))
