"""HL7 v2 use cases: convert (nothing stored), process (stored through the ingestion pipeline,
answered with an ACK), and the message log.

    hl7v2.convert(ctx, raw)      -> Converted (the transaction Bundle, warnings) or 422 / 400
    hl7v2.process(ctx, raw)      -> Acknowledgement (ACK text, AA/AE/AR, the problems)
    hl7v2.messages(ctx, sender=None, message_type=None, control_id=None, outcome=None,
                   since=None, until=None, limit=50, offset=0) -> MessagePage
    hl7v2.message(ctx, id)       -> LogEntry

The door is `ctx.door` ("hl7v2" over HTTP, "mllp" from the listener, "cli"): it goes into the
Provenance of what was stored and into the log. No Flask, no SQL: the converter is pure, writes
go through `resources.ingest`, the log through its storage repository.
"""
from __future__ import annotations

from ..security.guard import Guard

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from ..hl7v2 import Hl7v2Error, Problem
from ..hl7v2.ack import acknowledgement_code, build_ack
from ..hl7v2.conceptmaps import ConceptMapIndex
from ..hl7v2.convert import Conversion, Converter
from ..hl7v2.errors import DUPLICATE_KEY, INTERNAL, Location, problem
from ..hl7v2.mappings import Mappings
from ..hl7v2 import vitals
from ..hl7v2.parse import parse
from ..ingest import ProvenanceRecord
from ..outcomes import Issue, OperationOutcomeError
from ..storage.errors import ConflictError, StorageError
from ..storage.hl7v2_log import LogEntry

DOOR_HL7V2 = "hl7v2"
DOOR_MLLP = "mllp"
STATUS = {"AA": 200, "CA": 200, "AE": 422, "CE": 422, "AR": 400, "CR": 400}
_SEVERITY = {"E": "error", "W": "warning", "I": "information"}
_ISSUE_CODE = {"100": "structure", "101": "required", "102": "value", "103": "code-invalid",
               "200": "not-supported", "201": "not-supported", "202": "not-supported",
               "203": "not-supported", "204": "not-found", "205": "duplicate",
               "207": "exception"}


@dataclass(frozen=True)
class Converted:
    bundle: dict
    warnings: tuple[Issue, ...]
    message_type: str
    control_id: str


@dataclass(frozen=True)
class Acknowledgement:
    code: str                        # MSA-1: AA | AE | AR (CA | CE | CR in enhanced mode)
    ack: str                         # the ACK message, segments separated by CR
    problems: tuple[Problem, ...]
    message_type: str = ""
    control_id: str = ""
    sender: str = ""
    duplicate: bool = False          # answered from the log (same sender and control id)
    provenance: str | None = None    # Provenance/id of what was stored
    forbidden: bool = False          # refused by the caller's scopes (AR, HTTP 403)

    @property
    def status(self) -> int:
        return 403 if self.forbidden else STATUS[self.code]


@dataclass(frozen=True)
class Preview:
    bundle: dict | None
    issues: tuple[Issue, ...]                # the conversion's, located at segments
    sources: tuple[Location | None, ...]     # Bundle.entry[i] came from sources[i]
    message_type: str = ""
    control_id: str = ""


@dataclass(frozen=True)
class MessagePage:
    total: int
    entries: tuple[LogEntry, ...]


class _AnsweredBefore(Exception):
    """Raised inside the ingest's unit of work (rolling it back): a copy of the message was
    accepted and committed meanwhile; `entry` is its log row."""

    def __init__(self, entry: LogEntry):
        super().__init__(f"answered from log entry {entry.id}")
        self.entry = entry


def issue_of(p: Problem) -> Issue:
    """An ERR problem as an OperationOutcome issue, located both ways (OBX[3]-5, OBX[3].5[1])."""
    if p.location is None:
        expr = ()
    else:   # a segment-only location reads the same both ways: named once (MSH[1])
        expr = tuple(dict.fromkeys((str(p.location), p.location.path)))
    return Issue(_SEVERITY.get(p.severity, "error"), _ISSUE_CODE.get(p.code, "processing"),
                 p.message, expr, diagnostics=f"HL7 table 0357 code {p.code}")


class Hl7v2Service:
    STORED_MAPS_TTL = 10.0  # seconds a worker trusts its copy of the stored ConceptMaps

    def __init__(self, db, resources, search, search_engine, definitions, config,
                 mappings: Mappings | None = None):
        self.db = db
        self.guard = getattr(resources, "guard", None) or Guard(search_engine.registry,
                                                                search_engine)
        self.resources = resources
        self.search = search
        self.engine = search_engine
        self.definitions = definitions
        self.config = config
        self.mappings = mappings or Mappings.load()
        self._shipped = self.mappings.conceptmaps + _guide_conceptmaps(config.profiles_dir)
        self._maps = ConceptMapIndex(self._shipped)
        self._maps_loaded = 0.0
        self._maps_lock = threading.Lock()
        self.converter = Converter(self.mappings, translate=self._translate,
                                   contains=self._contains,
                                   z_segments=getattr(config, "hl7v2_z_segments", "ignore"),
                                   default_offset=getattr(config, "hl7v2_default_offset", "Z"),
                                   code_known=self._code_known,
                                   vital_signs=vitals.from_definitions(definitions.sds,
                                                                       definitions.expansion))

    # -- terminology ---------------------------------------------------------------------------
    def _translate(self, system: str, code: str) -> list[dict]:
        return self._maps.translate(system, code)

    def _code_known(self, system: str, code: str) -> bool | None:
        cs = self.definitions.codesystem(system)
        if cs is None or cs.get("content") not in (None, "complete"):
            return None
        return code in cs["_set"]

    def _contains(self, vs: str, system: str | None, code: str | None) -> bool:
        exp = self.definitions.expansion(vs)
        return bool(exp and system and code in exp["codes"].get(system, ()))

    def _refresh_maps(self, ctx) -> None:
        """ConceptMaps stored in the server join the shipped ones (re-read every few seconds)."""
        if time.monotonic() - self._maps_loaded < self.STORED_MAPS_TTL:
            return
        with self._maps_lock:
            if time.monotonic() - self._maps_loaded < self.STORED_MAPS_TTL:
                return
            # the server's own terminology, shared by every caller: read as the server (a
            # caller's scopes decide what is stored or answered, not which maps load)
            bundle = self.search.search(ctx.with_(enforce=False), "ConceptMap",
                                        [("_count", "1000")])
            stored = [e["resource"] for e in bundle.get("entry", ()) if "resource" in e]
            stored = [r.parse() if hasattr(r, "parse") else r for r in stored]
            self._maps = ConceptMapIndex(self._shipped + stored)
            self._maps_loaded = time.monotonic()

    # -- convert -------------------------------------------------------------------------------
    def convert(self, ctx, raw: bytes | str) -> Converted:
        """The transaction Bundle the message would store; 400 (unreadable, unsupported) or
        422 (content errors, or a Bundle the validator refuses) with located issues."""
        try:
            messages = parse(raw)
            if len(messages) != 1:
                raise OperationOutcomeError([Issue("error", "not-supported", f"The body holds "
                                                   f"{len(messages)} messages; $convert-hl7v2 "
                                                   "takes one", ("MSH",))], 400)
            conv = self._convert(ctx, messages[0])
        except Hl7v2Error as exc:
            raise OperationOutcomeError([issue_of(p) for p in exc.problems],
                                        400 if exc.reject else 422) from None
        bundle = conv.bundle
        self.guard.convert(ctx, bundle)   # 403 before any stored value is handed out
        issues = self.resources.pipeline.validator.validate(
            bundle, strict=ctx.require_guide_profiles)
        errors = [i for i in issues if i.is_error]
        if errors:
            raise OperationOutcomeError(_with_sources(errors, conv), 422)
        return Converted(bundle, tuple(issue_of(p) for p in conv.warnings) +
                         tuple(i for i in issues if i.severity == "warning"),
                         conv.message.message_type, conv.message.control_id)

    def preview(self, ctx, raw: bytes | str) -> "Preview":
        """The conversion without the verdict (the validate page): the transaction Bundle the
        message converts to (None when it cannot be converted), the conversion's own issues
        located at their segments (`OBX[3]-5`), and the segment each Bundle entry came from,
        so that the caller can validate the Bundle and place its issues. Nothing is stored."""
        try:
            messages = parse(raw)
            if len(messages) != 1:
                return Preview(None, (Issue("error", "not-supported", f"The input holds "
                                            f"{len(messages)} messages; one is checked at a "
                                            "time", ("MSH",)),), ())
            conv = self._convert(ctx, messages[0])
        except Hl7v2Error as exc:
            return Preview(None, tuple(issue_of(p) for p in exc.problems), ())
        return Preview(conv.bundle, tuple(issue_of(p) for p in conv.warnings),
                       tuple(m.location for m in conv.meta), conv.message.message_type,
                       conv.message.control_id)

    def _convert(self, ctx, msg, preview: bool = True) -> Conversion:
        self._refresh_maps(ctx)
        conv = self.converter.convert(msg)
        if preview:
            self._merge_stored(conv)
        return conv

    def _merge_stored(self, conv: Conversion) -> None:
        """The preview of $convert-hl7v2: Patients and Encounters shown merged with what is
        stored now (read only; `process` merges inside the ingest transaction instead)."""
        wanted = [(e, m) for e, m in zip(conv.bundle["entry"], conv.meta) if m.merge and m.query]
        if not wanted:
            return
        from ..ingest.plan import parse_query
        with self.db.unit_of_work() as uow:
            for entry, meta in wanted:
                rtype, _, query = meta.query.partition("?")
                found = self.engine.match(uow, rtype, list(parse_query(query)))
                if len(found) == 1:
                    entry["resource"] = merged(found[0].resource(), entry["resource"], meta)

    # -- process -------------------------------------------------------------------------------
    def process(self, ctx, raw: bytes | str) -> Acknowledgement:
        """Convert and store one message (or each of a batch: their ACKs, joined); the answer
        is the ACK. The same control id from the same sender is answered from the log."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        try:
            messages = parse(raw)
        except Hl7v2Error as exc:
            ack = build_ack(None, "AR", exc.problems)
            self._log(ctx, None, text, "AR", ack, exc.problems)
            return Acknowledgement("AR", ack, tuple(exc.problems))
        acks = [self._process_one(ctx, m) for m in messages]
        if len(acks) == 1:
            return acks[0]
        worst = max(acks, key=lambda a: (a.forbidden, STATUS[a.code]))
        return Acknowledgement(worst.code, "".join(a.ack for a in acks),
                               tuple(p for a in acks for p in a.problems), "batch",
                               worst.control_id, worst.sender, forbidden=worst.forbidden)

    def _process_one(self, ctx, msg) -> Acknowledgement:
        base = dict(message_type=msg.message_type, control_id=msg.control_id,
                    sender=msg.sender)
        conv = None
        if ctx.enforce:
            # authorised before the log answers a retransmission: a caller who may not store
            # this message must not get the earlier AA (nor learn the control id was used)
            try:
                conv = self._convert(ctx, msg, preview=False)
            except Hl7v2Error as exc:
                return self._answer(ctx, msg, "AR" if exc.reject else "AE", exc.problems, base)
            try:
                self.guard.convert(ctx, conv.bundle, stores=True)
            except OperationOutcomeError as exc:
                return self._refused(ctx, msg, exc, base)
        earlier = self._accepted_before(msg)
        if earlier is not None:
            return self._from_log(ctx, msg, earlier, base)
        try:
            conv = conv or self._convert(ctx, msg, preview=False)
        except Hl7v2Error as exc:
            return self._answer(ctx, msg, "AR" if exc.reject else "AE", exc.problems, base)
        record = ProvenanceRecord(door=ctx.door, agent=msg.sender, source_id=msg.control_id,
                                  source_system=_control_system(msg),
                                  activity=conv.activity)
        def merge(index: int, current: dict, new: dict) -> dict:
            meta = conv.meta[index] if 0 <= index < len(conv.meta) else None
            return merged(current, new, meta) if meta is not None and meta.merge else new

        answered: list[Acknowledgement] = []

        def log_accepted(uow, result) -> None:
            # The AA and its log row are written in the unit of work of what was stored:
            # committed together or not at all, so a retransmission is answered from the log
            # exactly when the message's resources are there (and one transaction, not two).
            # A copy committed since the look above (SQLite writers queue, so this one sees
            # it): this is a resend, and nothing of it is stored. One still in flight
            # (PostgreSQL): the unique accepted row makes the later commit a ConflictError.
            again = uow.hl7v2.accepted(msg.sender, msg.control_id, msg.message_type)
            if again is not None:
                raise _AnsweredBefore(again)
            prov = (f"Provenance/{result.provenance.resource_id}"
                    if result.provenance is not None else None)
            warnings = conv.warnings + [
                Problem("W", "102", f"{w.message} ({', '.join(w.expression)})", None)
                for w in result.warnings]
            answered[:] = [self._answer(ctx, msg, "AA", warnings, base, prov, uow=uow)]

        def store():
            # keep_unchanged: the same content sent again writes no new versions (and, when
            # nothing at all changed, no Provenance): only its log row
            return self.resources.ingest(ctx, conv.bundle, record, merge=merge,
                                         keep_unchanged=True, before_commit=log_accepted)
        try:
            try:
                store()
            except ConflictError:
                # a copy of this message stored meanwhile (the unique accepted row), or a
                # concurrent message about the same patient: then once more
                earlier = self._accepted_before(msg)
                if earlier is not None:
                    return self._from_log(ctx, msg, earlier, base)
                store()
        except _AnsweredBefore as exc:
            return self._from_log(ctx, msg, exc.entry, base)
        except OperationOutcomeError as exc:
            if exc.status == 403:  # the sender may not store this: rejected, HTTP 403
                return self._refused(ctx, msg, exc, base)
            return self._answer(ctx, msg, "AE", conv.warnings + _problems(exc, conv), base)
        except StorageError as exc:
            return self._answer(ctx, msg, "AR", conv.warnings + [problem(
                INTERNAL, f"Not stored: {exc}; send the message again", None)], base)
        return answered[0]

    def _accepted_before(self, msg) -> LogEntry | None:
        # a different event under the same control id is not a retransmission
        with self.db.unit_of_work() as uow:
            return uow.hl7v2.accepted(msg.sender, msg.control_id, msg.message_type)

    def _from_log(self, ctx, msg, earlier: LogEntry, base) -> Acknowledgement:
        """A resend: the earlier ACK again, logged as answered from that row."""
        self._log(ctx, msg, msg.text, earlier.outcome, earlier.ack, [problem(
            DUPLICATE_KEY, f"Control id {msg.control_id} from {msg.sender} was accepted "
            f"before (log entry {earlier.id}); answered from the log", None, "I")],
            earlier.provenance, answered_from=earlier.id)
        return Acknowledgement(earlier.outcome, earlier.ack, (), duplicate=True,
                               provenance=earlier.provenance, **base)

    def _refused(self, ctx, msg, exc: OperationOutcomeError, base) -> Acknowledgement:
        """A scope refusal: AR (the message is not to be sent again as it is), HTTP 403."""
        problems = [Problem("E", INTERNAL, f"Not authorised: {i.message}"
                            + (f" (at {', '.join(i.expression)})" if i.expression else ""), None)
                    for i in exc.issues if i.is_error]
        return self._answer(ctx, msg, "AR", problems, base, forbidden=True)

    def _answer(self, ctx, msg, code, problems, base, provenance=None,
                forbidden: bool = False, uow=None) -> Acknowledgement:
        code = acknowledgement_code(code, msg)
        ack = build_ack(msg, code, problems)
        self._log(ctx, msg, msg.text, code, ack, problems, provenance, uow=uow)
        return Acknowledgement(code, ack, tuple(problems), provenance=provenance,
                               forbidden=forbidden, **base)

    def _log(self, ctx, msg, raw: str, outcome: str, ack: str, problems, provenance=None,
             uow=None, answered_from: int | None = None):
        """One log row: in `uow` when given (the caller commits it with its change), else
        in a write unit of work of its own."""
        issues = orjson.dumps([{"severity": p.severity, "code": p.code, "message": p.message,
                                "location": str(p.location) if p.location else None}
                               for p in problems]).decode() if problems else None
        entry = LogEntry(
            door=ctx.door, sender=msg.sender if msg else "", receiver=(
                f"{msg.msh.value(5)}^{msg.msh.value(6)}" if msg else None),
            message_type=msg.message_type if msg else "", control_id=msg.control_id if msg
            else None, outcome=outcome, raw=raw, ack=ack, provenance=provenance, issues=issues,
            answered_from=answered_from)
        if uow is not None:
            uow.hl7v2.add(entry)
            return
        with self.db.unit_of_work(write=True) as uow:
            uow.hl7v2.add(entry)
            uow.commit()

    # -- the message log -----------------------------------------------------------------------
    def messages(self, ctx, sender: str | None = None, message_type: str | None = None,
                 control_id: str | None = None, outcome: str | None = None,
                 since: int | None = None, until: int | None = None, limit: int = 50,
                 offset: int = 0) -> MessagePage:
        """The message log, newest first. `since` / `until`: microseconds since the epoch;
        `message_type` 'ADT' matches every ADT event, 'ADT^A01' one."""
        Guard.require_administrator(ctx, "The HL7 v2 message log (raw messages)")
        limit = max(1, min(int(limit), 1000))
        with self.db.unit_of_work() as uow:
            total, rows = uow.hl7v2.find(sender, message_type, control_id, outcome, since,
                                         until, limit, max(0, int(offset)))
        return MessagePage(total, tuple(rows))

    def message(self, ctx, entry_id: int) -> LogEntry:
        Guard.require_administrator(ctx, "The HL7 v2 message log (raw messages)")
        with self.db.unit_of_work() as uow:
            entry = uow.hl7v2.get(int(entry_id))
        if entry is None:
            raise OperationOutcomeError([Issue("error", "not-found",
                                               f"No message log entry {entry_id}")], 404)
        return entry


def merged(current: dict, new: dict, meta) -> dict:
    """HL7 v2 update semantics, pure: the resource to store when `new` (converted from the
    message) replaces `current` (the stored version, read under its lock by the pipeline).
    What the message leaves empty keeps its stored value, `""` (in `meta.cleared`) removes it;
    identifiers accumulate (a message naming one of them must not drop the others), except
    for an A40's merged-away patient, which keeps everything it had and gets its `active` and
    `link` from the message."""
    out = {k: v for k, v in current.items()
           if k not in ("meta", "id", "text") and k not in meta.cleared and k not in new}
    out.update(new)
    if meta.merge_into is None:
        idents = list(new.get("identifier", ()))
        for i in current.get("identifier", ()):
            if i not in idents:
                idents.append(i)
        if idents:
            out["identifier"] = idents
    if "meta" in new:
        out["meta"] = new["meta"]
    out["resourceType"] = current.get("resourceType", new.get("resourceType"))
    return out


def _control_system(msg) -> str:
    return f"urn:fhirsvc:hl7v2:sender:{msg.sender}"


def _source_of(index: int, conv: Conversion) -> Location | None:
    return conv.meta[index].location if 0 <= index < len(conv.meta) else None


def _problems(exc: OperationOutcomeError, conv: Conversion) -> list[Problem]:
    """Validation / storage issues of the Bundle, located at the segment the entry came from."""
    import re
    out = []
    for i in exc.issues:
        if not i.is_error:
            continue
        m = re.match(r"Bundle\.entry\[(\d+)\]", i.expression[0]) if i.expression else None
        loc = _source_of(int(m.group(1)), conv) if m else None
        where = ", ".join(i.expression)
        out.append(Problem("E", "207" if exc.status >= 500 else "102",
                           f"{i.message}" + (f" (at {where})" if where else ""), loc))
    return out or [Problem("E", INTERNAL, "The converted Bundle was refused", None)]


def _with_sources(issues: list[Issue], conv: Conversion) -> list[Issue]:
    import re
    out = []
    for i in issues:
        m = re.match(r"Bundle\.entry\[(\d+)\]", i.expression[0]) if i.expression else None
        loc = _source_of(int(m.group(1)), conv) if m else None
        out.append(Issue(i.severity, i.code, i.message + (f" (from {loc})" if loc else ""),
                         i.expression + ((str(loc), loc.path) if loc else ()), i.diagnostics,
                         i.source))
    return out


def _guide_conceptmaps(profiles_dir: Path) -> list[dict]:
    folder = Path(profiles_dir) / "fsh-generated" / "resources"
    return [orjson.loads(p.read_bytes()) for p in sorted(folder.glob("ConceptMap-*.json"))]


__all__ = ["Acknowledgement", "Converted", "DOOR_HL7V2", "DOOR_MLLP", "Hl7v2Service",
           "MessagePage", "issue_of", "merged"]
