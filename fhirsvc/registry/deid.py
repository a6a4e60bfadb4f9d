"""De-identification as the profile file says (registry/deid-profile.yaml): keyed-hash
pseudonyms, per-patient date shifts or ages, free text dropped.

The key is FHIRSVC_PSEUDONYM_KEY, or one the server generates once and keeps (0600) in
pseudonym_key_file: two servers with the same key give the same pseudonyms and shifts.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import date, timedelta
from pathlib import Path

# a Patient created by a registry import carries its pseudonym here; its data are already
# de-identified (dates shifted), so an export passes them through unchanged
PSEUDONYM_SYSTEM = "urn:fhirsvc:registry:pseudonym"
PSEUDED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
           "code": "PSEUDED", "display": "pseudonymized"}


def pseudonym_key(config) -> bytes:
    if config.pseudonym_key:
        return config.pseudonym_key.encode()
    path = Path(config.pseudonym_key_file)
    if path.exists():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting together keep the same (first) key
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key.encode()


class Deidentifier:
    def __init__(self, profile: dict, key: bytes):
        self.profile = profile
        self.key = key
        p = profile.get("pseudonym", {})
        self.prefix = p.get("prefix", "R")
        self.length = int(p.get("length", 16))
        self.mode = profile.get("dates", {}).get("mode", "shift")
        if self.mode not in ("shift", "age"):
            raise ValueError(f"de-identification dates.mode {self.mode!r} is not shift or age")
        self.max_days = int(profile.get("dates", {}).get("max_days", 365))
        self.keep_free_text = set(profile.get("keep_free_text") or [])
        self.drop_free_text = profile.get("free_text", "drop") == "drop"

    def _mac(self, text: str) -> bytes:
        return hmac.new(self.key, text.encode(), hashlib.sha256).digest()

    def pseudonym(self, patient: dict) -> tuple[str, bool]:
        """(record id, already de-identified)."""
        idents = patient.get("identifier") or []
        for ident in idents:
            if ident.get("system") == PSEUDONYM_SYSTEM and ident.get("value"):
                return ident["value"], True
        basis = next((f"{i.get('system', '')}|{i['value']}" for i in idents if i.get("value")),
                     f"Patient/{patient.get('id')}")
        return self.prefix + self._mac("id:" + basis).hex()[:self.length], False

    def offset_days(self, record_id: str) -> int:
        n = int.from_bytes(self._mac("shift:" + record_id)[:4], "big")
        return n % (2 * self.max_days + 1) - self.max_days

    def keeps(self, var) -> bool:
        return not (var.free_text and self.drop_free_text and var.name not in self.keep_free_text)


def full_date(text: str) -> date | None:
    """A FHIR date or dateTime -> a date (a year or month alone: its first day)."""
    text = (text or "")[:10]
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def shifted(text: str, days: int) -> str:
    d = full_date(text)
    return (d + timedelta(days=days)).isoformat() if d else ""


def age_at(text: str, birth: date | None) -> str:
    d = full_date(text)
    if d is None or birth is None:
        return ""
    years = d.year - birth.year - ((d.month, d.day) < (birth.month, birth.day))
    return str(years)
