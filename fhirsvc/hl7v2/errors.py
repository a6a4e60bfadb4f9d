"""Problems found in a message, located the way HL7 people read them (`OBX[3]-5.1`) and the way
tools read them (`OBX[3].5[1].1`), with the table 0357 error code an ERR segment carries."""
from __future__ import annotations

from dataclasses import dataclass

# HL7 table 0357 (message error condition codes) used here.
ACCEPTED = "0"
SEGMENT_SEQUENCE = "100"
REQUIRED_MISSING = "101"
DATA_TYPE = "102"
TABLE_VALUE = "103"
UNSUPPORTED_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
INTERNAL = "207"

CODE_TEXT = {
    "0": "Message accepted", "100": "Segment sequence error", "101": "Required field missing",
    "102": "Data type error", "103": "Table value not found",
    "200": "Unsupported message type", "201": "Unsupported event code",
    "202": "Unsupported processing id", "203": "Unsupported version id",
    "204": "Unknown key identifier", "205": "Duplicate key identifier",
    "206": "Application record locked", "207": "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """segment id, its 1-based occurrence, field, repetition, component (0 = not given)."""
    segment: str
    occurrence: int = 1
    field: int = 0
    repetition: int = 0
    component: int = 0

    def __str__(self) -> str:  # OBX[3]-5.1 (repetition shown when not the first)
        out = f"{self.segment}[{self.occurrence}]"
        if self.field:
            out += f"-{self.field}"
            if self.repetition > 1:
                out += f"({self.repetition})"
            if self.component:
                out += f".{self.component}"
        return out

    @property
    def path(self) -> str:  # FHIRPath-like, for tools: OBX[3].5[1].1
        out = f"{self.segment}[{self.occurrence}]"
        if self.field:
            out += f".{self.field}[{self.repetition or 1}]"
            if self.component:
                out += f".{self.component}"
        return out

    @property
    def erl(self) -> str:
        """ERR-2 (ERL): segment^sequence^field^repetition^component."""
        parts = [self.segment, str(self.occurrence)]
        if self.field:
            parts += [str(self.field), str(self.repetition or 1)]
            if self.component:
                parts.append(str(self.component))
        return "^".join(parts)


@dataclass(frozen=True)
class Problem:
    severity: str            # E (error) | W (warning) | I (information), as ERR-4
    code: str                # table 0357
    message: str             # what a person can act on (ERR-8)
    location: Location | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "E"


class Hl7v2Error(Exception):
    """The message cannot be converted. `reject` True = AR (unparseable, unsupported: the
    receiver cannot even read it); False = AE (content error)."""

    def __init__(self, problems: list[Problem], reject: bool = False):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)
        self.reject = reject


def problem(code: str, message: str, location: Location | None = None,
            severity: str = "E") -> Problem:
    return Problem(severity, code, message, location)
