"""One parsed message -> one transaction Bundle of conditional entries, by the mapping files.

The converter is pure: it reads no storage. Identity makes the Bundle idempotent: patients are
matched on their PID-3 identifiers, encounters on PV1-19, reports on the filler / placer order
number, results on the order number + OBX set id, everything else on an identifier derived from
its anchor (patient or order) and its own key field; each becomes a conditional update
(`PUT Patient?identifier=system|value`), so a resent message changes nothing.

What the message leaves empty and what it clears (`""`) are recorded per entry (`EntryMeta`):
the service merges Patients and Encounters with their stored version, as HL7 v2 update
semantics ask (an empty field keeps the stored value, `""` removes it).
"""
from __future__ import annotations

import functools
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

from . import transforms as T
from .errors import (REQUIRED_MISSING, UNSUPPORTED_EVENT, UNSUPPORTED_TYPE, Hl7v2Error, Location,
                     Problem, problem)
from .mappings import Mappings, SegmentMap
from .parse import NULL, Message, Segment
from . import absent
from .vitals import VitalSigns, from_package as vitals_from_package

_NS = uuid.UUID("6f1c1d1e-8d5e-4f57-9a55-2f8f3c1b7a10")
_NS_BYTES = _NS.bytes


def _urn(key: str) -> str:
    """f"urn:uuid:{uuid.uuid5(_NS, key)}", without the UUID object: uuid5 is SHA-1 of the
    namespace and the name with the version and variant bits set (RFC 4122 4.3); building and
    printing the object was a tenth of a conversion (tests/hl7v2/test_convert.py checks the
    two agree)."""
    h = bytearray(hashlib.sha1(_NS_BYTES + key.encode("utf-8")).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"urn:uuid:{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


# What urllib's quote leaves as it is (letters, digits, "_.-~" and the safe characters): most
# systems and values are that already, and the regex answers it faster than quote's bytes pass.
_AS_IS = {"": re.compile(r"[A-Za-z0-9_.~-]*"), ":/.-_~": re.compile(r"[A-Za-z0-9_.~:/-]*")}


def _quote(text: str, safe: str = "") -> str:
    return text if _AS_IS[safe].fullmatch(text) else quote(text, safe=safe)


@functools.lru_cache(maxsize=4096)
def _quote_system(system: str) -> str:
    """An identifier system in a search URL, quoted once per process: the systems are few (per
    sender and type), and a derived one (percent signs in it) takes quote's slow path."""
    return _quote(system, safe=":/.-_~")


@functools.lru_cache(maxsize=4096)
def _quote_anchor(system: str) -> str:
    """An anchor's system as one path segment of a derived system (once per process)."""
    return _quote(system, safe="")
TEXT_TYPES = ("ST", "TX", "FT")
Z_SEGMENT_URL = "http://fhirsvc.org/fhir/StructureDefinition/hl7v2-z-segment"
NOTE_URL = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"


@dataclass
class EntryMeta:
    location: Location
    rtype: str
    alias: str | None
    merge: bool = False
    cleared: set = field(default_factory=set)    # top-level elements the message nulled ("")
    owned: set = field(default_factory=set)      # top-level elements the mapping can set
    merge_into: str | None = None                # A40: the fullUrl of the survivor
    query: str | None = None                     # conditional update criteria


@dataclass
class Conversion:
    message: Message
    bundle: dict
    meta: list[EntryMeta]
    warnings: list[Problem]

    @property
    def activity(self) -> str:
        return f"HL7 v2 {self.message.message_type} {self.message.control_id} converted"


class _Cx:
    """The conversion context transforms see: tables, the current segment and field, warnings."""

    def __init__(self, maps: Mappings, msg: Message, translate, default_offset: str,
                 code_known=None):
        self.code_known = code_known
        self.maps = maps
        self.tables = maps.tables
        self.units = maps.units
        self.msg = msg
        self.facility = msg.sending_facility or msg.sending_application or "unknown"
        self.translate_fn = translate
        self.default_offset = default_offset
        self.warnings: list[Problem] = []
        self.errors: list[Problem] = []
        self.seg: Segment | None = None
        self.field = 0
        self.rep = 0
        self._offset_noted = False
        # (OBX-6 repetition, code, unit, UCUM code) of the last quantity (transforms.quantity)
        self.unit_memo: tuple | None = None
        self.dtm_memo: dict = {}     # (DTM text, need_time) -> (FHIR value, offset taken)

    def loc(self, field=None, component=0) -> Location:
        return self.seg.loc(field or self.field, self.rep, component)

    def warn(self, message: str, component: int = 0, field: int | None = None,
             code: str = "102"):
        self.warnings.append(problem(code, message, self.loc(field, component), "W"))

    def note_offset(self):
        if not self._offset_noted:
            self._offset_noted = True
            self.warnings.append(problem("102", f"A date/time without a UTC offset was read "
                                         f"as {self.default_offset} (set "
                                         "FHIRSVC_HL7V2_DEFAULT_OFFSET for this feed)",
                                         self.loc(), "I"))

    def lookup(self, table: str, code: str, warn: bool = True):
        if not code:
            return None
        t = self.tables[table]
        found = t.get(code) or t.get(code.upper())
        if found is None and code.lower() in self._targets(table):
            found = code.lower()  # the sender already wrote the FHIR code ("female")
        return found

    def _targets(self, table: str) -> set:
        cache = self.maps.__dict__.setdefault("_targets", {})
        if table not in cache:
            cache[table] = {v.lower() for v in self.tables[table].values()}
        return cache[table]

    def code_system(self, name: str) -> str:
        if not name:
            return ""
        std = self.maps.standard_systems.get(name) or self.maps.standard_systems.get(
            name.upper())
        if std:
            return std
        up = name.upper()
        if up.startswith("HL7") and up[3:].isdigit():
            return f"http://terminology.hl7.org/CodeSystem/v2-{up[3:]}"
        if name in self.maps.local_systems:
            return self.maps.local_systems[name]
        if name.startswith(("http://", "https://", "urn:")):
            return name
        return f"{self.maps.local_prefix}{_quote(self.facility, safe='')}/{_quote(name, safe='')}"

    def checked_system(self, name: str, code: str, assumed: bool) -> str:
        """The system of a code, checked against the HL7 table it claims (or the mapping
        assumes): a code that is not in that table is the sender's own, so it is kept under
        the sender's local system and translated or warned about like any local code."""
        system = self.code_system(name)
        if system.startswith("http://terminology.hl7.org/CodeSystem/v2-") and self.code_known:
            if self.code_known(system, code) is False:
                return (f"{self.maps.local_prefix}{_quote(self.facility, safe='')}/"
                        f"{_quote(name, safe='')}")
        return system

    def is_local(self, system: str) -> bool:
        return system.startswith(self.maps.local_prefix) or \
            system in self.maps.local_system_urls

    def translate(self, codings: list[dict]) -> list[dict]:
        out = []
        for c in codings:
            system = c.get("system", "")
            if system and not self.is_local(system) and self.translate_fn:
                # a standard code the guide maps (ICD-10 -> its SNOMED condition codes): the
                # target coding first, the sent one kept
                out.extend(t for t in self.translate_fn(system, c["code"])
                           if t not in codings and t not in out)
            elif system and self.is_local(system):
                found = self.translate_fn(system, c["code"]) if self.translate_fn else []
                if found:
                    out.extend(found)
                elif not any(not self.is_local(o.get("system", "")) for o in codings):
                    self.warn(f"Local code {c['code']!r} of {system} has no translation in "
                              "the stored ConceptMaps; kept as sent", 1,
                              code="103")
            out.append(c)
        return out

    def identifier_system(self, authority: str, universal: str = "", utype: str = "") -> str:
        maps = self.maps
        if authority and authority in maps.authorities:
            return maps.authorities[authority]
        if universal and universal in maps.authorities:
            return maps.authorities[universal]
        if universal and utype.upper() == "ISO":
            return f"urn:oid:{universal}"
        if universal.startswith(("http://", "https://", "urn:")):
            return universal
        if authority:
            self.warn(f"Assigning authority {authority!r} has no row in identifier_systems.yaml"
                      f"; the system is {maps.authority_fallback}{authority}")
            return f"{maps.authority_fallback}{_quote(authority, safe='')}"
        self.warn("No assigning authority: the sending facility "
                  f"{self.facility!r} is taken as the authority")
        return f"{maps.authority_fallback}{_quote(self.facility, safe='')}"


class Converter:
    def __init__(self, mappings: Mappings | None = None, translate=None, contains=None,
                 z_segments: str = "ignore", default_offset: str = "Z", code_known=None,
                 vital_signs: VitalSigns | None = None):
        # code_known(system, code) -> True / False / None (code system not known here)
        self.code_known = code_known
        # the R4 vital-sign codes (the server's definitions; else read from the R4 package
        # once per process at the first conversion)
        self._vitals = vital_signs
        self.maps = mappings or Mappings.load()
        # translate(system, code) -> [Coding] (the stored ConceptMaps); contains(vs, system,
        # code) -> bool (for the guide's profile claims). Both optional.
        self.translate = translate
        self.contains = contains
        self.z_segments = z_segments
        self.default_offset = "Z" if default_offset in ("Z", "+00:00", "") else default_offset

    def convert(self, msg: Message) -> Conversion:
        sm = self.maps.structure_for(msg.message_type)
        if sm is None:
            known = sorted(self.maps.by_event)
            code = UNSUPPORTED_TYPE if not any(k.startswith(msg.message_code + "^")
                                               for k in known) else UNSUPPORTED_EVENT
            raise Hl7v2Error([problem(code, f"Message type {msg.message_type} is not supported "
                                      f"(supported: {', '.join(known)})",
                                      Location("MSH", 1, 9))], reject=True)
        cx = _Cx(self.maps, msg, self.translate, self.default_offset, self.code_known)
        built: list[_Built] = []
        aliases: dict[str, _Built] = {}
        last_by_segment: dict[str, _Built] = {}
        same: dict[tuple[int, str], _Built] = {}   # (segment index, as): built from one segment
        group: dict | None = None                   # inside an unmapped group (ORDER_DOCUMENT)
        previous: _Built | None = None
        zs: list[str] = []
        for seg in msg.segments[1:]:
            if seg.id.startswith("Z"):
                zs.append(seg.id)
                if self.z_segments == "keep":
                    zs[-1] = msg.text.split("\r")[seg.index]
                continue
            opened = sm.group_opened_by(seg.id)
            if opened is not None:
                group = opened
            elif group is not None and seg.id == group["until"]:
                group = None
            if group is not None and seg.id == group["segment"]:
                cx.seg = seg
                cx.warnings.append(problem("100", f"{seg.id}[{seg.occurrence}] is in a group "
                                           f"the v2-to-FHIR guide does not map "
                                           f"({group['why']}); not converted", seg.loc(), "I"))
                continue
            specs = sm.entries_for(seg.id)
            if not specs:
                continue
            spec = specs[0]
            if seg.id == "OBX" and not seg.value(3) and seg.value(2).upper() in TEXT_TYPES \
                    and "OBR" in last_by_segment:
                # uncoded narrative lines of a report (common in text reports): the report's
                # conclusion, not Observations without a code
                last_by_segment["OBR"].narrative.append(seg)
                continue
            if spec.get("note"):
                self._note(cx, seg, previous)
                continue
            for spec in specs:
                if spec.get("merge_into"):
                    b = self._mrg(cx, seg, spec)
                else:
                    need = spec.get("only_with")
                    if need:   # (not_imaging is looked at only beside only_with: few specs)
                        if not any(seg.value(f) for f in (
                                need if isinstance(need, list) else [need])):
                            continue
                        if spec.get("not_imaging") and \
                                seg.value(24).upper() in sm.imaging_sections:
                            continue   # an imaging study (OBR-24) has no specimen
                    b = self._build(cx, seg, self.maps.segment(spec.get("map", seg.id)), spec)
                if spec.get("parent"):
                    b.parent = last_by_segment.get(spec["parent"])
                    if b.parent is not None:
                        b.parent.children.append(b)
                    sg = spec.get("specimen_group")
                    if sg:
                        # after an SPM of this order: the SPECIMEN group's own observations
                        spm = last_by_segment.get(sg["after"])
                        if spm is not None and b.parent is not None and spm.parent is b.parent:
                            b.group_of = spm
                built.append(b)
                if spec.get("as"):
                    same[(seg.index, spec["as"])] = b
                    if spec["as"] not in aliases:
                        aliases[spec["as"]] = b
                if spec.get("map", seg.id) == seg.id:  # the segment's own resource
                    last_by_segment[seg.id] = b
                    previous = b
        for spec in sm.entries:
            if spec.get("required") and spec["segment"] not in last_by_segment:
                cx.errors.append(problem(REQUIRED_MISSING, f"{msg.message_type} needs a "
                                         f"{spec['segment']} segment", Location(spec["segment"])))
        if cx.errors:
            raise Hl7v2Error(cx.errors)
        vitals = self._vitals or vitals_from_package()
        for b in built:   # before _imaging: a vital sign is not also given `laboratory`
            res = b.res
            if res["resourceType"] != "Observation":
                continue
            if b.seg.id == "OBX" and absent.VALUED.isdisjoint(res):
                absent.mark(res, b.seg.value(11), cx.lookup)
            if vitals.codes:
                for f, code, text in vitals.review(res):
                    cx.errors.append(problem(code, text, b.seg.loc(f)))
        self._imaging(cx, sm, built)
        self._documents(cx, built)
        entries, meta = self._entries(cx, sm, msg, built, aliases, same)
        if zs:
            self._z(cx, zs, built, entries)
        if cx.errors:
            raise Hl7v2Error(cx.errors)
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        return Conversion(msg, bundle, meta, msg.warnings + cx.warnings)

    # -- one segment -> one resource ---------------------------------------------------------
    def _build(self, cx: _Cx, seg: Segment, sm: SegmentMap, spec: dict) -> "_Built":
        cx.seg = seg
        res: dict = {"resourceType": sm.resource}
        for k, v in sm.set.items():
            res[k] = _copy(v)
        b = _Built(seg, spec, res)
        b.owned.update(sm.tops)
        fields = seg.fields
        nfields = len(fields)
        each = None   # OBX[Observation-Component]: the values of a repeating OBX-5
        for n, optional, rule in sm.plan:
            sent = fields[n] if n < nfields else ""
            if not sent:
                if optional:
                    continue  # nothing sent, nothing to do (the common case)
                reps = []
            elif sent == NULL:
                b.cleared.add(rule.top)
                continue
            else:
                reps = seg.reps(n)
            if rule.unless and seg.value(rule.unless):
                continue
            cx.field = n
            fn, args = rule.fn, rule.args
            if len(reps) == 1 or reps and not rule.list:   # one value (the common case)
                cx.rep = 1
                try:
                    v = fn(cx, reps[0], args)
                except T.TransformError as exc:
                    self._failed(cx, seg, rule, 1 if len(reps) > 1 else 0, exc)
                    v = None
                cx.rep = 0
                values = () if v is None else (v,)
            else:
                values = []
                for i, rep in enumerate(reps, start=1):
                    cx.rep = i
                    try:
                        v = fn(cx, rep, args)
                    except T.TransformError as exc:
                        self._failed(cx, seg, rule, i, exc)
                        continue
                    if v is not None:
                        values.append(v)
                cx.rep = 0
                if len(values) > 1 and args.get("repeats") == "component":
                    each = values   # made into components once OBX-7 is read too
                    continue
            if not values:
                if rule.default is not None and not _has(res, rule.target):
                    _set_path(res, rule.path, _copy(rule.default), False)
                elif rule.required and not reps:
                    cx.errors.append(problem(REQUIRED_MISSING, f"{seg.id}-{rule.field} is "
                                             f"required for {sm.resource}.{rule.target}",
                                             seg.loc(rule.field)))
                continue
            for v in values:
                if type(v) is T.Choice:
                    if v.name != "extension" and "." not in rule.target:
                        res[v.name] = v.value
                    else:
                        _choose(res, rule.path, v)
                elif type(v) is T.Several:
                    for one in v.values:
                        _set_path(res, rule.path, one, rule.list)
                else:
                    _set_path(res, rule.path, v, rule.list)
        if each is not None:
            _components(res, each)
        return b

    @staticmethod
    def _failed(cx: _Cx, seg: Segment, rule, repetition: int, exc: T.TransformError):
        """A value the target cannot hold: a warning when the element may be left out, else
        an error (AE)."""
        where = seg.loc(rule.field, repetition, exc.component)
        if exc.soft and (not rule.required or rule.default is not None):
            cx.warnings.append(problem(exc.code, f"{exc}; left out", where, "W"))
        else:
            cx.errors.append(problem(exc.code, str(exc), where))

    def _mrg(self, cx: _Cx, seg: Segment, spec: dict) -> "_Built":
        """MRG-1 (prior patient identifier list) -> the Patient that is merged away."""
        cx.seg = seg
        res: dict = {"resourceType": "Patient"}
        idents = []
        for i, rep in enumerate(seg.reps(1), start=1):
            cx.field, cx.rep = 1, i
            ident = T.identifier(cx, rep, {})
            if ident:
                idents.append(ident)
        if not idents:
            cx.errors.append(problem(REQUIRED_MISSING, "MRG-1 (prior patient identifier) is "
                                     "required for a merge", seg.loc(1)))
        res["identifier"] = idents
        b = _Built(seg, spec, res)
        b.merge_into = spec["merge_into"]
        return b

    def _note(self, cx: _Cx, seg: Segment, previous: "_Built | None"):
        """NTE -> Annotation on the resource of the segment before it."""
        text = "\n".join("".join(c[0] for c in rep) for rep in seg.reps(3)).strip()
        if not text or previous is None:
            return
        rtype = previous.res["resourceType"]
        if rtype == "DiagnosticReport":
            # R4 DiagnosticReport has no note (R5 does): the R5 cross-version extension
            previous.res.setdefault("extension", []).append(
                {"url": NOTE_URL, "valueAnnotation": {"text": text}})
        elif rtype in ("Observation", "Specimen", "AllergyIntolerance", "Condition"):
            previous.res.setdefault("note", []).append({"text": text})
        else:
            cx.seg = seg
            cx.warnings.append(problem("100", f"NTE after {previous.seg.id} has no place in "
                                       f"{rtype}; dropped", seg.loc(3), "W"))

    # -- message-level rules -----------------------------------------------------------------
    def _imaging(self, cx: _Cx, sm, built: list["_Built"]):
        """An imaging report's text results are its narrative, not Observations."""
        for b in built:
            if b.seg.id != "OBR" or b.spec.get("map"):   # the report, not the OBR's Specimen
                continue
            section = b.seg.value(24).upper()
            if section not in sm.imaging_sections and b.narrative:
                text = "\n".join(_text(s) for s in b.narrative).strip()
                if text:
                    b.res["conclusion"] = text
                    b.res["presentedForm"] = [T.text_attachment(text)]
            for c in b.children:
                # OBX-14 empty: the order's observation time (OBR-7), as the guide's ORU map
                if c.res["resourceType"] == "Observation" and "effectiveDateTime" not in c.res \
                        and "effectiveDateTime" in b.res:
                    c.res["effectiveDateTime"] = b.res["effectiveDateTime"]
            if section not in sm.imaging_sections:
                for c in b.children:
                    if c.res["resourceType"] == "Observation":
                        c.res.setdefault("category", [{"coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory", "display": "Laboratory"}]}])
                continue
            b.res["category"] = [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD",
                "display": "Radiology"}]}] + [c for c in b.res.get("category", [])
                                              if c.get("coding", [{}])[0].get("code") != "RAD"]
            lines, keep = [], []
            lines.extend(_text(s) for s in b.narrative)
            for c in b.children:
                if c.seg.id == "OBX" and c.seg.value(2).upper() in TEXT_TYPES:
                    # a repeating text OBX has components, not a valueString: all its lines
                    lines.append(c.res.get("valueString") or _text(c.seg))
                    c.skip = True
                else:
                    keep.append(c)
            b.children = keep
            text = "\n".join(lines).strip()
            if text:
                b.res["conclusion"] = text
                b.res["presentedForm"] = [T.text_attachment(text)]

    def _documents(self, cx: _Cx, built: list["_Built"]):
        doc = next((b for b in built if b.spec.get("content")), None)
        if doc is None:
            return
        lines = []
        for seg in cx.msg.all(doc.spec["content"]):
            for rep in seg.reps(5):
                lines.append("^".join("&".join(c) for c in rep).rstrip("^"))
        text = "\n".join(lines).strip()
        if not text:
            cx.errors.append(problem(REQUIRED_MISSING, "MDM^T02 carries the document in OBX-5; "
                                     "there is none", Location("OBX", 1, 5)))
            return
        doc.res["content"] = [{"attachment": T.text_attachment(text)}]

    def _entries(self, cx, sm, msg, built, aliases, same=None):
        entries, meta = [], []
        same = same or {}
        for b in built:
            if b.skip:
                continue
            b.query, b.full_url = self._identity(cx, b, aliases, same)
        for b in built:
            if b.skip:
                continue
            res = b.res
            refs = b.spec.get("refs") or {}
            if b.group_of is not None:   # SPECIMEN_OBSERVATION.OBX: focus the Specimen
                refs = b.spec["specimen_group"]["refs"]
                res["focus"] = [{"reference": b.group_of.full_url}]
            for target, names in refs.items():
                ref = None
                for name in (names.split("|") if "|" in names else (names,)):   # the first found
                    if name.startswith(("same:", "parent:")):
                        # made from this very segment (IN1's payor) or from the parent's
                        seg = b.seg if name[0] == "s" else \
                            b.parent.seg if b.parent is not None else None
                        other = same.get((seg.index, name.split(":", 1)[1])) \
                            if seg is not None else None
                        ref = other.full_url if other is not None and not other.skip else None
                    else:
                        ref = self._ref(b, name, aliases)
                    if ref:
                        break
                if ref:
                    many = target.endswith("[]")
                    target = target.removesuffix("[]")
                    _set(res, target if not target.startswith("context.") else target,
                         [{"reference": ref}] if target == "context.encounter" or many else
                         {"reference": ref}, False)
            if b.spec.get("locations"):
                located = self._locations(cx, b, entries, meta)
                if located:
                    res["location"] = located
            for target, child_seg in (b.spec.get("collect") or {}).items():
                refs = [{"reference": c.full_url} for c in b.children
                        if c.seg.id == child_seg and not c.skip and c.group_of is None]
                if refs:
                    res.setdefault(target, []).extend(refs)
            if b.spec.get("status") == "event":
                # PV1[Encounter]: PV1-45 valued -> finished, else PV1-2 through
                # PatientClass[EncounterStatus]; MSH[Encounter] (A11 cancel) and A03 first
                status = cx.lookup("encounter-event-status", msg.trigger, warn=False)
                if status is None and b.seg.value(45):
                    status = "finished"
                if status is None:
                    status = cx.lookup("encounter-status", b.seg.value(2), warn=False)
                res["status"] = status or "unknown"
            self._profiles(sm, res)
            entry = {"fullUrl": b.full_url, "resource": res}
            m = EntryMeta(b.seg.loc(), res["resourceType"], b.spec.get("as"),
                          bool(b.spec.get("merge")), b.cleared, b.owned, query=b.query)
            if b.merge_into:
                survivor = aliases.get(b.merge_into)
                m.merge_into = survivor.full_url if survivor else None
                res["active"] = False
                res["link"] = [{"other": {"reference": m.merge_into}, "type": "replaced-by"}]
                m.merge, m.owned = True, {"active", "link"}
                if survivor is not None:
                    survivor.res["link"] = [{"other": {"reference": b.full_url},
                                             "type": "replaces"}]
                    survivor.res["active"] = True
            if b.query:
                entry["request"] = {"method": "PUT", "url": b.query}
            else:
                entry["request"] = {"method": "POST", "url": res["resourceType"]}
                cx.warnings.append(problem("101", f"{b.seg.id}[{b.seg.occurrence}] has no "
                                           "identifier to match on: a resend creates another "
                                           f"{res['resourceType']}", b.seg.loc(), "W"))
            entries.append(entry)
            meta.append(m)
        return entries, meta

    def _identity(self, cx, b: "_Built", aliases, same=None) -> tuple[str | None, str]:
        rtype = b.res["resourceType"]
        kind = b.spec.get("identity")
        ident = None
        if kind == "identifier" or b.merge_into:
            ident = next((i for i in b.res.get("identifier", ())
                          if i.get("system") and i.get("value")), None)
        elif kind == "order":
            ids = b.res.get("identifier", ())
            ident = next((i for i in ids if _type(i) == "FILL"), None) or \
                next((i for i in ids if _type(i) == "PLAC"), None)
        elif kind == "order_item":
            own = b.seg.value(21)
            parent = b.parent
            if own:
                ident = {"system": cx.identifier_system(b.seg.value(21, 2), b.seg.value(21, 3),
                                                        b.seg.value(21, 4)), "value": own}
            elif parent is not None and parent.anchor is not None:
                setid = b.seg.value(1) or f"p{parent.children.index(b) + 1}"
                group = ""
                if b.group_of is not None:   # set ids restart in each SPECIMEN group
                    group = f"-spm{b.group_of.seg.value(1) or b.group_of.seg.occurrence}"
                ident = {"system": parent.anchor["system"],
                         "value": f"{parent.anchor['value']}{group}-obx{setid}"}
            if ident:
                b.res.setdefault("identifier", []).append(ident)
        elif kind == "document":
            mi = b.res.get("masterIdentifier")
            ident = mi if mi and mi.get("system") else None
            if mi and not mi.get("system"):
                mi["system"] = cx.identifier_system("", "", "")
                ident = mi
        elif isinstance(kind, dict) and "derive_sender" in kind:
            # no identifier of its own (a payor named in IN1-4 only): one per sender and name
            ident = next((i for i in b.res.get("identifier", ())
                          if i.get("system") and i.get("value")), None)
            key = ":".join(b.seg.value(int(f)) for f in kind["derive_sender"]).strip(":")
            if ident is None and key:
                ident = {"system": f"{cx.maps.derived_prefix}{rtype}/"
                                   f"{_quote(cx.msg.sender, safe='')}", "value": key}
                b.res.setdefault("identifier", []).append(ident)
        elif isinstance(kind, dict) and "derive" in kind:
            anchor_name, *fieldnos = kind["derive"]
            if anchor_name.startswith("same:"):   # made from this very segment (OBR's report)
                anchor = (same or {}).get((b.seg.index, anchor_name[5:]))
            else:
                anchor = aliases.get(anchor_name) if anchor_name != "report" else b.parent
            key = ":".join(b.seg.value(int(f)) for f in fieldnos).strip(":") or \
                str(b.seg.occurrence)
            if anchor is not None and anchor.anchor is not None:
                ident = {"system": f"{cx.maps.derived_prefix}{rtype}/"
                                   f"{_quote_anchor(anchor.anchor['system'])}",
                         "value": f"{anchor.anchor['value']}:{b.seg.id}:{key}"}
                b.res.setdefault("identifier", []).append(ident)
        if ident and ident.get("system"):
            b.anchor = ident
            key = f"{rtype}|{ident['system']}|{ident['value']}"
            query = (f"{rtype}?identifier={_quote_system(ident['system'])}|"
                     f"{_quote(ident['value'], safe=':/.-_~')}")
            return query, _urn(key)
        key = f"{rtype}|{cx.msg.sender}|{cx.msg.control_id}|{b.seg.index}"
        return None, _urn(key)

    def _locations(self, cx, b: "_Built", entries: list, meta: list) -> list[dict]:
        """PL fields of b's segment -> Location entries (locations.yaml), added to the Bundle
        once each; answers the Encounter.location list referencing the most granular."""
        spec = cx.maps.locations
        out = []
        for fno, status in b.spec["locations"].items():
            if int(fno) == 3 and b.seg.is_null(3):   # "" : the stored locations go
                b.cleared.add("location")
                continue
            rep = (b.seg.reps(int(fno)) or [None])[0]
            if not rep:
                continue
            if int(fno) == 3 and status == "active" and b.seg.value(2).upper() == "P":
                status = "planned"
            levels = [(lv, T.comp(rep, lv["component"])) for lv in spec["levels"]]
            levels = [(lv, v) for lv, v in levels if v]
            if not levels:
                continue
            parent_url = None
            top_down = list(reversed(levels))
            path: list[str] = []
            for lv, value in top_down:
                path.append(value)
                ident = {"system": f"{cx.maps.derived_prefix}Location/"
                                   f"{_quote(cx.facility, safe='')}", "value": "^".join(path)}
                key = "|".join(("Location", ident["system"], ident["value"]))
                url = _urn(key)
                if not any(e["fullUrl"] == url for e in entries):
                    loc = {"resourceType": "Location", "identifier": [ident], "status": "active",
                           "name": value, "mode": "instance"}
                    if lv.get("code"):
                        loc["physicalType"] = {"coding": [{
                            "system": spec["physical_type_system"], "code": lv["code"],
                            "display": lv["display"]}]}
                    if parent_url:
                        loc["partOf"] = {"reference": parent_url}
                    query = (f"Location?identifier={_quote_system(ident['system'])}|"
                             f"{_quote(ident['value'], safe=':/.-_~')}")
                    entries.append({"fullUrl": url, "resource": loc,
                                    "request": {"method": "PUT", "url": query}})
                    meta.append(EntryMeta(b.seg.loc(int(fno)), "Location", None, query=query))
                parent_url = url
            out.append({"location": {"reference": parent_url,
                                     "display": " ".join(v for _, v in top_down)},
                        "status": status})
        return out

    @staticmethod
    def _ref(b: "_Built", name: str, aliases) -> str | None:
        if name in aliases:
            return aliases[name].full_url
        if b.parent is not None:  # a sibling in the same order group (SPM of this OBR)
            first = b.parent.first_child
            if first is None:   # once per parent, not once per child (OBX x SPM)
                first = b.parent.first_child = {}
                for c in b.parent.children:
                    if not c.skip:
                        first.setdefault(c.seg.id, c)
            c = first.get(name)
            return c.full_url if c is not None else None
        return None

    def _profiles(self, sm, res: dict):
        for requires, category, valueset, profile in self.maps.profile_rules.get(
                res["resourceType"], ()):
            if not all(res.get(k) for k in requires):
                continue
            if category and not any(c.get("code") == category for cc in res.get("category", ())
                                    for c in cc.get("coding", ())):
                continue
            if valueset and not (self.contains and any(
                    self.contains(valueset, c.get("system"), c.get("code"))
                    for c in res.get("code", {}).get("coding", ()))):
                continue
            res.setdefault("meta", {}).setdefault("profile", []).append(profile)

    def _z(self, cx, zs: list[str], built, entries):
        if self.z_segments != "keep":
            cx.warnings.append(problem("100", f"Z-segments ignored: {', '.join(zs)} (set "
                                       "FHIRSVC_HL7V2_Z_SEGMENTS=keep to keep them)", None, "I"))
            return
        if entries:  # on the message's first resource (the patient), raw as sent
            entries[0]["resource"].setdefault("extension", []).extend(
                {"url": Z_SEGMENT_URL, "valueString": z} for z in zs)


class _Built:
    __slots__ = ("seg", "spec", "res", "parent", "children", "skip", "cleared", "owned",
                 "merge_into", "query", "full_url", "anchor", "narrative", "first_child",
                 "group_of")

    def __init__(self, seg, spec, res):
        self.seg, self.spec, self.res = seg, spec, res
        self.parent = None
        self.children: list = []
        self.skip = False
        self.cleared: set = set()
        self.owned: set = set()
        self.merge_into = None
        self.query = None
        self.full_url = ""
        self.anchor = None
        self.narrative: list = []
        self.first_child: dict | None = None   # segment id -> first child kept (_ref)
        self.group_of = None   # the SPM whose SPECIMEN group this OBX is in


def _text(seg) -> str:
    return "\n".join("^".join("&".join(c) for c in rep).rstrip("^") for rep in seg.reps(5))


def _choose(res: dict, path: tuple, v: "T.Choice"):
    """A value[x] chosen by its transform: the element named beside the target's parent
    (collection.collected[x] -> collection.collectedPeriod); extensions are added to."""
    if len(path) > 1:
        _set_path(res, path[:-1] + (v.name,), v.value, False)
    elif v.name == "extension":
        res.setdefault("extension", []).extend(v.value)
    else:
        res[v.name] = v.value


def _components(res: dict, values: list):
    """OBX-5 repeating (the guide's OBX[Observation-Component]): one component per value, each
    with the code (OBX-3) and the reference range (OBX-7); no value[x] on the Observation."""
    code, ranges = res.get("code"), res.pop("referenceRange", None)
    out = []
    for v in values:
        c = {"code": _copy(code)} if code else {}
        if v.name == "extension":
            c["extension"] = v.value
        else:
            c[v.name] = v.value
        if ranges:
            c["referenceRange"] = _copy(ranges)
        out.append(c)
    res["component"] = out


def _type(ident: dict) -> str | None:
    for c in ident.get("type", {}).get("coding", ()):
        return c.get("code")
    return None


def _has(res: dict, path: str) -> bool:
    cur = res
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def _set(res: dict, path: str, value, append: bool):
    _set_path(res, _path(path), value, append)


_PATHS: dict[str, tuple] = {}   # element paths of the mappings (a few dozen), split once


def _path(path: str) -> tuple:
    parts = _PATHS.get(path)
    if parts is None:
        parts = _PATHS[path] = tuple(path.split("."))
    return parts


def _set_path(res: dict, parts: tuple, value, append: bool):
    if len(parts) == 1:   # most targets are top-level elements
        if append:
            if parts[0] in res:
                res[parts[0]].append(value)
            else:
                res[parts[0]] = [value]
        else:
            res[parts[0]] = value
        return
    cur = res
    for part in parts[:-1]:
        nxt = cur.get(part)
        if isinstance(nxt, list):  # context.encounter: the first element of a list
            nxt = nxt[0]
        elif nxt is None:
            nxt = cur[part] = {}
        cur = nxt
    last = parts[-1]
    if append:
        cur.setdefault(last, []).append(value)
    else:
        cur[last] = value


def _copy(v):
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v
