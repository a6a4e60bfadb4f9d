"""Bytes on the wire -> `Message` objects, with python-hl7 doing the parsing and unescaping.

What python-hl7 leaves to the caller, and this module does:
- segment separators: CR is the standard; LF, CRLF and mixed files are common, all become CR;
- a UTF-8 byte order mark, and the character set MSH-18 names (decoding happens before parsing);
- batch and file envelopes (FHS/BHS ... BTS/FTS): one `Message` per MSH;
- checks that make an unreadable message an AR with a location (no MSH, a field separator the
  segments do not use, no message type or control id);
- a uniform, lazy accessor: `Segment.reps(n)` always answers repetitions -> components ->
  subcomponents, unescaped (python-hl7 nests a field as a plain string when it has no
  separators and as lists when it has some), split only when a mapping reads it.
"""
from __future__ import annotations

import re
from functools import lru_cache

import hl7

from .errors import (REQUIRED_MISSING, SEGMENT_SEQUENCE, UNSUPPORTED_TYPE, Hl7v2Error, Location,
                     problem)

BOM = b"\xef\xbb\xbf"
NULL = '""'  # an explicit null: clears the value on update

# MSH-18 character set names (HL7 table 0211) -> Python codecs.
CHARSETS = {
    "": "utf-8", "ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8",
    "8859/1": "latin-1", "8859/2": "iso8859-2", "8859/5": "iso8859-5", "8859/7": "iso8859-7",
    "8859/9": "iso8859-9", "8859/15": "iso8859-15", "UNICODE UTF-16": "utf-16",
    "ISO IR6": "ascii", "ISO IR100": "latin-1", "ISO IR192": "utf-8", "WINDOWS-1252": "cp1252",
}
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")


class Segment:
    """One segment; fields numbered as in the standard (MSH-9 is `seg.value(9)` for MSH too).

    Fields are split lazily, on the separators python-hl7 read from MSH-1/MSH-2, and
    unescaped by python-hl7 (`Message.unescape`). Why not python-hl7's whole-message parse:
    it builds a container object for every field, repetition and component of every segment
    (about 70 per ORU OBX), which was 80% of the conversion time (bench/bench_hl7v2.py), and
    most segments of a message (PRT, SFT, ORC, TQ1, ...) are never read here.
    """
    __slots__ = ("id", "occurrence", "index", "fields", "_encoding", "_unescape", "_cache",
                 "_plain")

    def __init__(self, sid: str, occurrence: int, index: int, text: str, msg):
        self.id = sid
        self.occurrence = occurrence    # 1-based among segments with this id
        self.index = index              # position in the message
        fields = text.split(msg.field_sep)
        if sid in ("MSH", "BHS", "FHS"):
            fields.insert(1, msg.field_sep)  # MSH-1 is the separator itself
        self.fields = fields
        # the separators and python-hl7's unescape, not the Message: no reference cycle, so a
        # converted message is freed at once instead of by the garbage collector
        self._encoding = msg.encoding
        self._unescape = msg._hl7.unescape
        self._cache: dict = {}
        # most segments have no repetition, subcomponent, escape or explicit null anywhere:
        # their fields are split on components alone, without asking each field again
        rs, _, ss, esc = self._encoding
        self._plain = not (rs in text or ss in text or esc in text or NULL in text)

    def loc(self, field: int = 0, repetition: int = 0, component: int = 0) -> Location:
        return Location(self.id, self.occurrence, field, repetition, component)

    def raw(self, n: int) -> str:
        """Field n as sent (escaped, separators included); '' when absent."""
        fields = self.fields
        return fields[n] if n < len(fields) else ""

    def is_null(self, n: int) -> bool:
        fields = self.fields
        return n < len(fields) and fields[n] == NULL

    def reps(self, n: int) -> list[list[list[str]]]:
        """Field n: repetitions of components of subcomponents, unescaped; [] when empty or
        an explicit null. Shared: callers must not change it."""
        cache = self._cache
        hit = cache.get(n)
        if hit is not None:
            return hit
        fields = self.fields
        f = fields[n] if n < len(fields) else ""
        if f == "" or f == NULL:
            out: list = []
        elif n <= 2 and self.id in ("MSH", "BHS", "FHS"):
            out = [[[f]]]
        elif self._plain:
            cs = self._encoding[1]
            out = [[[c] for c in f.split(cs)]] if cs in f else [[[f]]]
        else:
            rs, cs, ss, esc = self._encoding
            if rs in f or ss in f:
                out = [[c.split(ss) for c in rep.split(cs)] for rep in f.split(rs)]
            elif cs in f:   # the usual field: components only (a third of convert's time)
                out = [[[c] for c in f.split(cs)]]
            else:
                out = [[[f]]]
            if esc in f or NULL in f:
                unescape = self._unescape
                for comps in out:
                    for sub in comps:
                        for i, s in enumerate(sub):
                            if s == NULL:
                                sub[i] = ""
                            elif esc in s:
                                sub[i] = unescape(s)
        cache[n] = out
        return out

    def value(self, n: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        reps = self._cache.get(n)
        if reps is None:
            reps = self.reps(n)
        if len(reps) < rep:
            return ""
        comps = reps[rep - 1]
        if len(comps) < component:
            return ""
        subs = comps[component - 1]
        return subs[sub - 1] if len(subs) >= sub else ""

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"<{self.id}[{self.occurrence}]>"


class Message:
    """One HL7 v2 message: its segments in order and the MSH facts every door needs."""

    def __init__(self, text: str, charset: str, warnings: list | None = None):
        self.text = text                  # segments separated by CR, decoded
        self.charset = charset
        self.warnings = list(warnings or ())
        lines = text.split("\r")
        # python-hl7 reads the separators and escape character from the MSH segment; its
        # Message is what unescapes (\F\ \S\ \T\ \R\ \E\ \Xhh\ \H\ \N\ ...).
        # (MSH-1 and MSH-2 with the field separator after them: python-hl7 reads MSH-2 up to it)
        self._hl7 = _encoding(lines[0][:lines[0].find(lines[0][3], 4) + 1])
        seps = self._hl7.separators       # segment, field, repetition, component, sub
        self.field_sep, self.rep_sep, self.comp_sep, self.sub_sep = seps[1], seps[2], \
            seps[3], seps[4]
        self.escape_char = self._hl7.esc
        # what Segment.reps reads for every field, in one attribute
        self.encoding = (self.rep_sep, self.comp_sep, self.sub_sep, self.escape_char)
        counts: dict[str, int] = {}
        self.segments: list[Segment] = []
        for i, line in enumerate(lines):
            sid = line[:3]
            counts[sid] = counts.get(sid, 0) + 1
            self.segments.append(Segment(sid, counts[sid], i, line, self))
        self.msh = self.segments[0]

    def unescape(self, s: str) -> str:
        return self._hl7.unescape(s)

    def all(self, sid: str) -> list[Segment]:
        return [s for s in self.segments if s.id == sid]

    def first(self, sid: str) -> Segment | None:
        for s in self.segments:
            if s.id == sid:
                return s
        return None

    # -- MSH facts -----------------------------------------------------------------------------
    @property
    def message_code(self) -> str:
        return self.msh.value(9, 1)

    @property
    def trigger(self) -> str:
        return self.msh.value(9, 2)

    @property
    def structure(self) -> str:
        return self.msh.value(9, 3)

    @property
    def message_type(self) -> str:     # ADT^A01
        return f"{self.message_code}^{self.trigger}" if self.trigger else self.message_code

    @property
    def control_id(self) -> str:
        return self.msh.value(10)

    @property
    def version(self) -> str:
        return self.msh.value(12)

    @property
    def sending_application(self) -> str:
        return self.msh.value(3)

    @property
    def sending_facility(self) -> str:
        return self.msh.value(4)

    @property
    def sender(self) -> str:
        """MSH-3^MSH-4 (namespace ids): the sender a control id is unique for."""
        return f"{self.sending_application}^{self.sending_facility}"

    @property
    def enhanced(self) -> bool:
        return bool(self.msh.value(15) or self.msh.value(16))


@lru_cache(maxsize=64)
def _encoding(head: str):
    """python-hl7's Message for an MSH that starts with `head` ("MSH|^~\\&|"): its separators and
    escape character are read from MSH-1/MSH-2 alone (hl7.parser.create_parse_plan) and are
    all its unescape uses, so one per encoding is parsed, not the MSH of every message."""
    return hl7.parse(head)


@lru_cache(maxsize=64)
def _collapsed(encoding: str) -> str:
    """MSH-2 with doubled characters read once ('^~\\\\&' -> '^~\\&'); cached per encoding, as
    the few a feed sends repeat in every message."""
    return re.sub(r"(.)\1+", r"\1", encoding)


_KNOWN_IDS: set = set()   # segment ids already seen to match _SEGMENT_ID (few: skip the regex)


def _charset_of(data: bytes) -> str:
    """MSH-18 read from the undecoded bytes (ASCII-compatible in every set we accept)."""
    end = min((i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0), default=len(data))
    line = data[:end].decode("latin-1")
    if len(line) < 4 or not line.startswith(("MSH", "FHS", "BHS")):
        return ""
    fields = line.split(line[3])
    if line.startswith(("FHS", "BHS")):  # the charset is on each MSH; look for the first
        m = re.search(rb"(?:^|[\r\n])MSH", data)
        return _charset_of(data[m.start():].lstrip(b"\r\n")) if m else ""
    # fields[0] is MSH, fields[1] the encoding characters (MSH-2), so MSH-18 is fields[17]
    return fields[17].split(line[4] if len(line) > 4 else "^")[0].strip() if len(fields) > 17 \
        else ""


def decode(data: bytes | str) -> tuple[str, str, list]:
    """(text with CR separators, charset label, warnings)."""
    warnings: list = []
    if isinstance(data, str):
        text, label = data.lstrip("\ufeff"), "str"
    else:
        if data.startswith(BOM):
            data = data[len(BOM):]
        label = _charset_of(data).upper()
        codec = CHARSETS.get(label)
        if codec is None:
            warnings.append(problem("103", f"MSH-18 character set {label!r} is not known; "
                                    "read as UTF-8", Location("MSH", 1, 18), "W"))
            codec = "utf-8"
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            # A common mislabel: Latin-1 bytes with no or a UTF-8 MSH-18. Keep the message,
            # say so (a person fixes the sender's configuration).
            text = data.decode("latin-1")
            warnings.append(problem("102", f"The message is not valid {codec} (byte "
                                    f"{exc.start}); read as ISO 8859-1", Location("MSH", 1, 18),
                                    "W"))
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return text, label, warnings


def parse(data: bytes | str) -> list[Message]:
    """All messages in `data` (one, or a batch / file). Hl7v2Error(reject=True) when it cannot
    be read as HL7 v2 at all."""
    text, charset, warnings = decode(data)
    segments = [s for s in text.split("\r") if s.strip()]
    if not segments:
        raise Hl7v2Error([problem(UNSUPPORTED_TYPE, "The message is empty")], reject=True)
    first = segments[0].lstrip()
    if not first.startswith(("MSH", "FHS", "BHS")):
        at = next((i for i, s in enumerate(segments) if s.startswith("MSH")), None)
        if at is None:
            raise Hl7v2Error([problem(REQUIRED_MISSING, "This is not an HL7 v2 message: it "
                                      "has no MSH segment (a message starts with MSH|^~\\&|)",
                                      Location("MSH"))], reject=True)
        raise Hl7v2Error([problem(SEGMENT_SEQUENCE, f"The message must start with MSH, not "
                                  f"{first[:3]!r} (MSH is segment {at + 1})", Location("MSH"))],
                         reject=True)
    groups: list[list[str]] = []
    for seg in segments:
        sid = seg[:3]
        if sid in ("FHS", "BHS", "BTS", "FTS"):
            continue
        if sid == "MSH":
            groups.append([seg])
        elif groups:
            groups[-1].append(seg)
    if not groups:
        raise Hl7v2Error([problem(REQUIRED_MISSING, "The batch holds no message (no MSH)",
                                  Location("MSH"))], reject=True)
    return [_one("\r".join(g), charset, warnings) for g in groups]


def _one(text: str, charset: str, warnings: list) -> Message:
    sep = text[3:4]
    enc_end = text.find(sep, 4) if sep else -1
    msh_loc = Location("MSH", 1, 1)
    if not sep or sep.isalnum() or sep in " \r" or enc_end < 0:
        raise Hl7v2Error([problem(REQUIRED_MISSING, "MSH-1 (field separator) and MSH-2 "
                                  "(encoding characters) are missing", msh_loc)], reject=True)
    encoding = text[4:enc_end]
    collapsed = _collapsed(encoding)
    if collapsed != encoding and len(set(encoding)) == len(collapsed):
        # '^~\\&' (a doubled escape character, as copied from a source-code string literal):
        # unambiguous, so read it as meant and say so.
        warnings = warnings + [problem("102", f"MSH-2 {encoding!r} repeats a character; read "
                                       f"as {collapsed!r}", Location("MSH", 1, 2), "W")]
        text = text[:4] + collapsed + text[enc_end:]
        encoding, enc_end = collapsed, 4 + len(collapsed)
    if len(encoding) < 2 or len(set(encoding)) != len(encoding) or sep in encoding \
            or any(c.isalnum() for c in encoding):
        raise Hl7v2Error([problem(REQUIRED_MISSING, f"MSH-2 encoding characters {encoding!r} "
                                  "are not valid (expected ^~\\& after the field separator)",
                                  Location("MSH", 1, 2))], reject=True)
    for i, seg in enumerate(text.split("\r")[1:], start=2):
        sid = seg[:3]
        if sid not in _KNOWN_IDS and _SEGMENT_ID.match(sid):
            _KNOWN_IDS.add(sid)
        if sid not in _KNOWN_IDS or (len(seg) > 3 and seg[3] != sep):
            other = "|" if sep != "|" and seg[3:4] == "|" else None
            hint = (f"; MSH declares {sep!r} as the field separator but the segments use '|'"
                    if other else "")
            raise Hl7v2Error([problem(SEGMENT_SEQUENCE, f"Segment {i} ({seg[:12]!r}) is not a "
                                      f"segment of this message{hint}", Location(sid or "?"))],
                             reject=True)
    try:
        msg = Message(text, charset, warnings)
    except Exception as exc:  # python-hl7 raises plain exceptions on malformed input
        raise Hl7v2Error([problem(REQUIRED_MISSING, f"The message cannot be parsed: {exc}",
                                  msh_loc)], reject=True) from None
    missing = [(n, what) for n, what in ((9, "message type"), (10, "message control id"))
               if not msg.msh.value(n)]
    if missing:
        raise Hl7v2Error([problem(REQUIRED_MISSING, f"MSH-{n} ({what}) is empty",
                                  Location("MSH", 1, n)) for n, what in missing], reject=True)
    return msg
