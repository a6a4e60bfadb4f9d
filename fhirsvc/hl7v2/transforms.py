"""The closed set of named transforms a mapping file may name (no expression language).

Each takes the conversion context `cx` (tables, the current segment and field, the warnings
sink), one repetition `rep` (components of subcomponents, unescaped) and the mapping's `args`,
and returns a FHIR value or None. Data-type rules follow the v2-to-FHIR guide's data type maps
(datatypes/<TYPE>[<FHIR type>].csv); where this departs, the function says why.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .errors import DATA_TYPE, TABLE_VALUE, Location

UCUM = "http://unitsofmeasure.org"
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")
_UCUM_TEXT = re.compile(r"^[!-~]+$")   # printable ASCII, no spaces: what UCUM codes are made of
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_RANGE = re.compile(r"^\s*([+-]?\d*\.?\d+)\s*-\s*([+-]?\d*\.?\d+)\s*$")   # OBX-7 10-65
_BOUND = re.compile(r"^\s*(<=?|>=?)\s*([+-]?\d*\.?\d+)\s*$")                  # OBX-7 <5


@dataclass
class Choice:
    """A value[x]: the element name chosen by the transform (valueQuantity, ...)."""
    name: str
    value: object


@dataclass
class Several:
    """More than one element value from one repetition (XPN-15 Called By: a second name)."""
    values: list


class TransformError(ValueError):
    """A value the target cannot hold: the message is answered AE with this location."""

    def __init__(self, message: str, code: str = DATA_TYPE, component: int = 0,
                 soft: bool = False):
        super().__init__(message)
        self.code = code
        self.component = component
        # soft: a code outside a table. For an optional element the value is left out with a
        # warning (the raw message stays in the log); for a required one it is an error.
        self.soft = soft


def comp(rep, i: int, sub: int = 1) -> str:
    if len(rep) < i:
        return ""
    subs = rep[i - 1]
    return subs[sub - 1].strip() if len(subs) >= sub else ""


def comps(rep, n: int) -> list[str]:
    """comp(rep, 1) .. comp(rep, n) in one pass (for the transforms that read most components
    of every value: CWE, the units of a quantity)."""
    out = [subs[0].strip() if subs else "" for subs in rep[:n]]
    if len(out) < n:
        out.extend([""] * (n - len(out)))
    return out


# -- dates --------------------------------------------------------------------------------------
def _dtm(value: str, need_time: bool, cx) -> str | None:
    """DTM (YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]) -> FHIR date/dateTime/instant, the
    precision kept. A time without an offset gets the sender's configured offset (FHIR
    requires one once there is a time); with a warning, so the feed can be fixed.

    Read once per message and value: the results of a panel share their observation time
    (OBR-7, every OBX-14), so `cx.dtm_memo` (one conversion's) answers the repeats."""
    memo = getattr(cx, "dtm_memo", None)
    key = (value, need_time)
    hit = memo.get(key) if memo is not None else None
    if hit is None:
        hit = _read_dtm(value, need_time, cx.default_offset)
        if memo is not None:
            memo[key] = hit
    if hit[1]:
        cx.note_offset()
    return hit[0]


def _read_dtm(value: str, need_time: bool, default_offset: str) -> tuple[str | None, bool]:
    """_dtm's reading: (the FHIR value or None, whether the default offset was taken)."""
    m = _DTM.match(value.strip())
    if not m:
        raise TransformError(f"{value!r} is not an HL7 date/time (YYYYMMDDHHMMSS[+ZZZZ])")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if mo and not 1 <= int(mo) <= 12 or d and not 1 <= int(d) <= 31 \
            or h and int(h) > 23 or mi and int(mi) > 59 or s and int(s) > 60:
        raise TransformError(f"{value!r} is not a valid date/time")
    if need_time and not s:
        if not (h and mi):
            return None, False  # an instant needs a full time; the caller treats it as absent
        s = "00"
    out = y
    if mo:
        out += f"-{mo}"
        if d:
            out += f"-{d}"
    if not h or not d:
        return out, False
    out += f"T{h}:{mi or '00'}:{s or '00'}{frac or ''}"
    if tz:
        return f"{out}{tz[:3]}:{tz[3:]}", False
    return out + default_offset, True


def _period(cx, start: str, end: str) -> dict | None:
    """A validity period of a name or telecom; dates that do not read are left out (with a
    warning), the name or number itself is kept."""
    out = {}
    for key, v in (("start", start), ("end", end)):
        if not v:
            continue
        try:
            when = _dtm(v, False, cx)
        except TransformError as exc:
            cx.warn(f"{exc}; the {key} of the validity period is left out")
            continue
        if when:
            out[key] = when
    return out or None


def date(cx, rep, args):
    v = comp(rep, 1)
    if not v:
        return None
    full = _dtm(v, False, cx) if len(v) > 8 else _dtm(v, False, _NoOffset)
    return full.split("T")[0] if full else None


def datetime(cx, rep, args):
    v = comp(rep, 1)
    return _dtm(v, False, cx) if v else None


def instant(cx, rep, args):
    v = comp(rep, 1)
    return _dtm(v, True, cx) if v else None


def datetime_extension(cx, rep, args):
    """DTM -> an extension valueDateTime at args["url"] (OBX-19 Date/Time of the Analysis ->
    observation-analysis-date-time, as OBX[Observation] maps it)."""
    v = comp(rep, 1)
    when = _dtm(v, False, cx) if v else None
    return Choice("extension", [{"url": args["url"], "valueDateTime": when}]) if when else None


def dr(cx, rep, args):
    """DR -> `<name>Period` when DR-2 (range end) is valued (DR[Period]), else `<name>DateTime`
    from DR-1 (DR[dateTime]), as SPM-17 asks; `name` is args["name"] (collected)."""
    start, end = comp(rep, 1), comp(rep, 2)
    if end:
        period = {"end": _dtm(end, False, cx)}
        if start:
            period = {"start": _dtm(start, False, cx), **period}
        return Choice(args["name"] + "Period", period)
    return Choice(args["name"] + "DateTime", _dtm(start, False, cx)) if start else None


def dtm_or_start(cx, rep, args):
    """DTM -> `<name>DateTime`, or `<name>Period.start` when the field args["end"] (the end
    time) is valued: OBR-7 beside OBR-8, as OBR[Specimen] and OBR[DiagnosticReport] map it."""
    v = comp(rep, 1)
    if not v:
        return None
    when = _dtm(v, False, cx)
    if cx.seg.value(args["end"]):
        return Choice(args["name"] + "Period", {"start": when})
    return Choice(args["name"] + "DateTime", when)


class _NoOffset:
    default_offset = ""

    @staticmethod
    def note_offset():
        pass


# -- strings, numbers ---------------------------------------------------------------------------
def string(cx, rep, args):
    parts = [s for s in (comp(rep, 1, k) for k in range(1, len(rep[0]) + 1)) if s] if rep else []
    return "&".join(parts) or None


def integer(cx, rep, args):
    v = comp(rep, 1)
    if not v:
        return None
    if not v.lstrip("+-").isdigit():
        raise TransformError(f"{v!r} is not a whole number")
    return int(v)


def yes_no(cx, rep, args):
    v = comp(rep, 1).upper()
    return {"Y": True, "N": False}.get(v)


def decimal_value(text: str):
    """HL7 NM -> a JSON number keeping the sent precision (9.0 stays 9.0)."""
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return int(d) if d == d.to_integral_value() and "." not in text and "e" not in text.lower() \
        else float(text)


# -- identifiers --------------------------------------------------------------------------------
def identifier(cx, rep, args):
    """CX -> Identifier: CX-1 value, CX-4 authority -> system (identifier_systems.yaml),
    CX-5 -> type (v2-0203)."""
    value = comp(rep, 1)
    if not value:
        return None
    authority = comp(rep, 4) or args.get("authority", "")
    oid, oid_type = comp(rep, 4, 2), comp(rep, 4, 3)
    ident = {"value": value}
    system = cx.identifier_system(authority, oid, oid_type)
    if system:
        ident["system"] = system
    id_type = comp(rep, 5) or args.get("type")
    if id_type:
        ident["type"] = _id_type(cx, id_type)
    return ident


def _id_type(cx, code: str) -> dict:
    """CX-5 -> Identifier.type: a v2-0203 coding, or text when the sender's code is not one."""
    system = "http://terminology.hl7.org/CodeSystem/v2-0203"
    if cx.code_known and cx.code_known(system, code) is False:
        return {"text": code}
    return {"coding": [{"system": system, "code": code}]}


def ei(cx, rep, args):
    """EI -> Identifier: EI-1 value, EI-2 namespace / EI-3 universal id -> system."""
    value = comp(rep, 1)
    if not value:
        return None
    ident = {"value": value}
    system = cx.identifier_system(comp(rep, 2), comp(rep, 3), comp(rep, 4))
    if system:
        ident["system"] = system
    if args.get("type"):
        ident["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                     "code": args["type"]}]}
    return ident


def eip(cx, rep, args):
    """EIP (placer&...^filler&...) -> the filler identifier, else the placer's."""
    for k, kind in ((2, "FILL"), (1, "PLAC")):
        if len(rep) >= k and rep[k - 1] and rep[k - 1][0]:
            return ei(cx, [[s] for s in rep[k - 1]], {"type": kind})
    return None


def cwe_identifier(cx, rep, args):
    """CWE -> Identifier (IN1-2 Health Plan ID): CWE-1 value, CWE-3 coding system name as the
    authority (identifier_systems.yaml), else the sender's."""
    value = comp(rep, 1)
    if not value:
        return None
    return {"value": value, "system": cx.identifier_system(comp(rep, 3))}


def xon_identifier(cx, rep, args):
    """XON-10 (organization identifier) with XON-6 authority -> Identifier."""
    value = comp(rep, 10) or comp(rep, 3)
    if not value:
        return None
    return {"value": value, "system": cx.identifier_system(comp(rep, 6), comp(rep, 6, 2),
                                                           comp(rep, 6, 3))}


def xcn_reference(cx, rep, args):
    """XCN -> a logical Reference to args["type"] (OBX-16 Responsible Observer -> performer):
    the identifier of XCN[Practitioner] (1 value, 9 assigning authority -> system, 13 type) and
    the name as display (6 prefix, 3 and 4 given, 2.1 family, 5 suffix). No Practitioner resource
    is made (no segment mapping makes one: the guide's PractitionerRole would hold nothing
    more than this)."""
    p = comps(rep, 13)
    words = [w for w in (p[5], p[2], p[3], p[1], p[4]) if w]
    if not (p[0] or words):
        return None
    out: dict = {"type": args["type"]}
    if p[0]:
        ident = {"value": p[0]}
        system = cx.identifier_system(p[8], comp(rep, 9, 2), comp(rep, 9, 3))
        if system:
            ident["system"] = system
        if p[12]:
            ident["type"] = _id_type(cx, p[12])
        out["identifier"] = ident
    if words:
        out["display"] = " ".join(words)
    return out


def string_identifier(cx, rep, args):
    v = comp(rep, 1)
    return {"value": v} if v else None


# -- people, places -----------------------------------------------------------------------------
def name(cx, rep, args):
    """XPN -> HumanName after datatypes/XPN[HumanName].csv: 1.1 family, 2 and 3 given, 4, 6
    and 14 suffixes, 5 prefix, 7 use, 10 or 12/13 period; 15 (Called By) becomes a second
    HumanName with use `nickname`, where the element repeats (args list: true)."""
    out: dict = {}
    family = comp(rep, 1)
    if family:
        out["family"] = family
    given = [g for g in (comp(rep, 2), comp(rep, 3)) if g]
    if given:
        out["given"] = given
    if comp(rep, 5):
        out["prefix"] = [comp(rep, 5)]
    suffix = [s for s in (comp(rep, 4), comp(rep, 6), comp(rep, 14)) if s]
    if suffix:
        out["suffix"] = suffix
    use = cx.lookup("name-use", comp(rep, 7), warn=False)
    if use:
        out["use"] = use
    start, end = comp(rep, 12), comp(rep, 13)
    if not (start or end):
        start, end = comp(rep, 10, 1), comp(rep, 10, 2)
    period = _period(cx, start, end)
    if period and out:
        out["period"] = period
    called = comp(rep, 15)
    if called and args.get("list", True):
        nick = {"use": "nickname", "given": [called]}
        return Several([out, nick]) if out else nick
    return out or None


def address(cx, rep, args):
    """XAD -> Address (1.1 street, 2 other designation, 3 city, 4 state, 5 zip, 6 country,
    7 type -> use, 9 county -> district)."""
    out: dict = {}
    lines = [x for x in (comp(rep, 1), comp(rep, 2)) if x]
    if lines:
        out["line"] = lines
    for k, key in ((3, "city"), (9, "district"), (4, "state"), (5, "postalCode"),
                   (6, "country")):
        if comp(rep, k):
            out[key] = comp(rep, k)
    use = cx.lookup("address-use", comp(rep, 7), warn=False)
    if use:
        out["use"] = use
    return out or None


def telecom(cx, rep, args):
    """XTN -> ContactPoint after datatypes/XTN[ContactPoint].csv: for Internet / X.400
    equipment XTN-4; otherwise XTN-12 (unformatted number), else XTN-5..8 (`+country area
    local Xextension`), else XTN-1. No equipment type and XTN-4 valued: email."""
    equipment = comp(rep, 3)
    system = cx.lookup("telecom-system", equipment, warn=False)
    if equipment in ("Internet", "X.400") or (not equipment and comp(rep, 4)):
        value = comp(rep, 4) or comp(rep, 1)
        system = system or "email"
    elif comp(rep, 12):
        value = comp(rep, 12)
    elif comp(rep, 7):
        value = " ".join(x for x in (("+" + comp(rep, 5)) if comp(rep, 5) else "",
                                     comp(rep, 6), comp(rep, 7)) if x)
        if comp(rep, 8):
            value += f" X{comp(rep, 8)}"
    else:
        value = comp(rep, 1)
    if not value:
        return None
    out = {"system": system or "phone", "value": value}
    use = cx.lookup("telecom-use", comp(rep, 2), warn=False) or args.get("use")
    if equipment == "CP":
        use = "mobile"
    if use:
        out["use"] = use
    if comp(rep, 18).isdigit() and int(comp(rep, 18)) > 0:
        out["rank"] = int(comp(rep, 18))
    period = _period(cx, comp(rep, 13), comp(rep, 14))
    if period:
        out["period"] = period
    return out


def location(cx, rep, args):
    """PL -> Encounter.location: point of care^room^bed^facility, as the display of a location
    (no Location resources are created: the guide's PL[Location] needs a location directory
    this service does not keep)."""
    parts = [p for p in (comp(rep, 1), comp(rep, 2), comp(rep, 3), comp(rep, 4)) if p]
    if not parts:
        return None
    return {"location": {"display": " ".join(parts)}}


def communication(cx, rep, args):
    cc = coded(cx, rep, {"default_system": "HL70296"})
    return {"language": cc} if cc else None


def reaction(cx, rep, args):
    text = comp(rep, 2) or comp(rep, 1)
    return {"manifestation": [{"text": text}]} if text else None


# -- codes --------------------------------------------------------------------------------------
def code(cx, rep, args):
    """A table code -> a FHIR code (tables.yaml); an unknown code is an error (AE 103) because
    FHIR code elements are bound to required value sets."""
    v = comp(rep, 1)
    if not v:
        return None
    out = cx.lookup(args["table"], v)
    if out is None:
        raise TransformError(f"{v!r} is not a code of table {args['table']} (known: "
                             f"{', '.join(sorted(cx.tables[args['table']]))})", TABLE_VALUE,
                             soft=True)
    return out


def coding_table(cx, rep, args):
    v = comp(rep, 1)
    if not v:
        return None
    c = cx.lookup(args["table"], v)
    if c is None:
        raise TransformError(f"{v!r} is not a code of table {args['table']}", TABLE_VALUE,
                             soft=True)
    out = {"system": args["system"], "code": c}
    if args.get("display"):
        d = cx.lookup(args["display"], c, warn=False)
        if d:
            out["display"] = d
    return out


def coded_table(cx, rep, args):
    c = coding_table(cx, rep, args)
    return {"coding": [c]} if c else None


def coded(cx, rep, args):
    """CWE / CE -> CodeableConcept: the primary (1-3) and alternate (4-6) codings, systems
    from codesystems.yaml, local codes translated through the ConceptMaps (kept, with a
    warning, when no map knows them); CWE-9 (original text) or the display -> text."""
    codings = []
    p = comps(rep, 9)
    for base in (0, 3):
        c = p[base]
        if not c:
            continue
        named = p[base + 2]
        coding = {"system": cx.checked_system(named or args.get("default_system", ""), c,
                                              not named), "code": c}
        if not coding["system"]:
            del coding["system"]
        if p[base + 1]:
            coding["display"] = p[base + 1]
        codings.append(coding)
    text = p[8] or (p[1] if not codings else "")
    if not codings and not text:
        return None
    out: dict = {}
    if codings:
        out["coding"] = cx.translate(codings)
    if text:
        out["text"] = text
    return out


def coded_component(cx, rep, args):
    """A CE / CWE held in one component (its parts as subcomponents: SPS-1 specimen source,
    SPS-4 body site) -> CodeableConcept, as `coded`."""
    k = args["component"]
    if len(rep) < k or not rep[k - 1] or not rep[k - 1][0]:
        return None
    return coded(cx, [[s] for s in rep[k - 1]], args)


# -- results ------------------------------------------------------------------------------------
def quantity(cx, value, units_rep, comparator: str | None = None, units_field: int | None = 6
             ) -> dict:
    """A number and OBX-6 units -> Quantity with UCUM where the unit is (or maps to) UCUM."""
    q: dict = {"value": value}
    if comparator:
        q["comparator"] = comparator
    if not units_rep:
        return q
    memo = getattr(cx, "unit_memo", None)
    if memo is not None and memo[0] is units_rep:
        # the same OBX-6 as the value's or the other bound's: read once per OBX
        _, unit_code, unit, ucum = memo
    else:
        unit_code, unit_text, unit_system = comps(units_rep, 3)
        unit = unit_text or unit_code
        ucum = None
        if unit_code:
            ucum = cx.units.get(unit_code) or cx.units.get(unit_code.lower())
            if ucum is None and (unit_system.upper() in ("UCUM", "ANS+")
                                 or _UCUM_TEXT.match(unit_code)):
                ucum = unit_code
        if hasattr(cx, "unit_memo"):
            cx.unit_memo = (units_rep, unit_code, unit, ucum)
    if not unit_code:
        return q
    q["unit"] = unit
    if ucum:
        q["system"] = UCUM
        q["code"] = ucum
    else:
        cx.warn(f"Unit {unit_code!r} is not UCUM and has no row in units.yaml; kept as text",
                component=0, field=units_field)
    return q


def cq(cx, rep, args):
    """CQ -> SimpleQuantity: CQ-1 value, CQ-2 units (a CWE in subcomponents) as OBX-6 is read."""
    v = comp(rep, 1)
    if not v:
        return None
    if not _NUMBER.match(v):
        raise TransformError(f"{v!r} is not a number")
    units = [[s] for s in rep[1]] if len(rep) > 1 and rep[1] and rep[1][0] else None
    return _simple(quantity(cx, decimal_value(v), units, units_field=None))


_COMPARATORS = {"<", "<=", ">", ">="}


def observation_value(cx, rep, args):
    """OBX-5 by OBX-2 value type. Repetitions: only CWE/CE/ST/TX/FT repeat meaningfully; the
    caller passes the whole field for text types (joined with newlines)."""
    seg = cx.seg
    vtype = seg.value(2).upper()
    units = seg.reps(6)
    units_rep = units[0] if units else None
    if vtype == "NM":
        v = comp(rep, 1)
        if not _NUMBER.match(v):
            raise TransformError(f"OBX-2 says NM (numeric) but OBX-5 is {v!r}, not a number")
        return Choice("valueQuantity", quantity(cx, decimal_value(v), units_rep))
    if vtype == "SN":
        cmp_, n1, sep, n2 = comp(rep, 1), comp(rep, 2), comp(rep, 3), comp(rep, 4)
        if cmp_ and cmp_ not in _COMPARATORS and cmp_ not in ("=", "<>"):
            raise TransformError(f"SN comparator {cmp_!r} is not one of < <= > >= = <>",
                                 component=1)
        if n1 and not _NUMBER.match(n1) or n2 and not _NUMBER.match(n2):
            raise TransformError(f"SN {'^'.join((cmp_, n1, sep, n2))!r} has a part that is not "
                                 "a number")
        if sep in (":", "/") and n1 and n2:
            if decimal_value(n1) == 1 and (not units_rep or comp(units_rep, 1).lower() in
                                           ("", "titer", "titre", "{titer}")):
                # a titre 1:n: the guide's SSc lab profile asks for a Quantity in {titer}
                return Choice("valueQuantity", {"value": decimal_value(n2), "unit": "titer",
                                                "system": UCUM, "code": "{titer}",
                                                **({"comparator": cmp_} if cmp_ in
                                                   _COMPARATORS else {})})
            return Choice("valueRatio", {"numerator": {"value": decimal_value(n1)},
                                         "denominator": {"value": decimal_value(n2)}})
        if sep in ("-",) and n1 and n2:
            return Choice("valueRange", {"low": quantity(cx, decimal_value(n1), units_rep),
                                         "high": quantity(cx, decimal_value(n2), units_rep)})
        if n1:
            return Choice("valueQuantity", quantity(
                cx, decimal_value(n1), units_rep, cmp_ if cmp_ in _COMPARATORS else None))
        return None
    if vtype in ("CWE", "CE", "CNE", "CF"):
        cc = coded(cx, rep, {})
        return Choice("valueCodeableConcept", cc) if cc else None
    if vtype in ("DT", "DTM", "TS"):
        v = datetime(cx, rep, {})
        return Choice("valueDateTime", v) if v else None
    if vtype == "TM":
        v = comp(rep, 1)
        return Choice("valueTime", f"{v[:2]}:{v[2:4]}:{v[4:6] or '00'}") if len(v) >= 4 else None
    if vtype in ("ST", "TX", "FT", "IS", "ID", "SI"):
        v = "&".join(rep[0]) if rep and rep[0] else ""
        text = "^".join("&".join(c) for c in rep).strip("^") if len(rep) > 1 else v
        return Choice("valueString", text) if text else None
    if vtype == "ED":
        data = comp(rep, 5)
        if not data:
            return None
        return _attachment({"contentType": _mime(comp(rep, 2), comp(rep, 3)), "data": data})
    if vtype == "RP":
        v = comp(rep, 1)
        if not v:
            return None
        att = {"url": v}
        if comp(rep, 3) or comp(rep, 4):
            att["contentType"] = _mime(comp(rep, 3), comp(rep, 4))
        return _attachment(att)
    if not vtype:
        raise TransformError("OBX-2 (value type) is empty, so OBX-5 cannot be read")
    raise TransformError(f"OBX-2 value type {vtype!r} is not supported (NM, SN, ST, TX, FT, "
                         "CWE, CE, DT, DTM, TS, TM, ED, RP are)")


# R4 Observation.value[x] has no Attachment: the guide's OBX[Observation] puts ED (Base64) and RP
# values in the R5 cross-version extension (the guide writes https://; FHIR canonicals are http).
VALUE_ATTACHMENT_URL = ("http://hl7.org/fhir/5.0/StructureDefinition/"
                        "extension-Observation.valueAttachment")


def _attachment(att: dict) -> Choice:
    return Choice("extension", [{"url": VALUE_ATTACHMENT_URL, "valueAttachment": att}])


def _mime(kind: str, sub: str) -> str:
    if "/" in sub:
        return sub
    kind = {"AP": "application", "IM": "image", "TEXT": "text", "AU": "audio",
            "MULTIPART": "multipart"}.get(kind.upper(), "application")
    return f"{kind}/{sub.lower() or 'octet-stream'}"


def reference_range(cx, rep, args):
    """OBX-7 -> referenceRange.text, as the guide maps it (ST); '10-65', '<5' and '>3' are
    also read into low / high with the OBX-6 units, so that values can be compared."""
    raw = comp(rep, 1)
    if not raw:
        return None
    units = cx.seg.reps(6)
    units_rep = units[0] if units else None
    m = _RANGE.match(raw)
    if m:
        return {"low": _simple(quantity(cx, decimal_value(m.group(1)), units_rep)),
                "high": _simple(quantity(cx, decimal_value(m.group(2)), units_rep)),
                "text": raw}
    m = _BOUND.match(raw)
    if m:
        key = "high" if m.group(1).startswith("<") else "low"
        return {key: _simple(quantity(cx, decimal_value(m.group(2)), units_rep)),
                "text": raw}
    return {"text": raw}


def _simple(q: dict) -> dict:
    q.pop("comparator", None)  # SimpleQuantity has none
    return q


def text_attachment(text: str) -> dict:
    return {"contentType": "text/plain; charset=utf-8",
            "data": base64.b64encode(text.encode("utf-8")).decode("ascii")}


TRANSFORMS = {
    "string": string, "integer": integer, "yes_no": yes_no,
    "date": date, "datetime": datetime, "datetime_extension": datetime_extension, "instant": instant, "dr": dr,
    "dtm_or_start": dtm_or_start, "cq": cq, "coded_component": coded_component,
    "identifier": identifier, "ei": ei, "eip": eip, "string_identifier": string_identifier,
    "cwe_identifier": cwe_identifier, "xcn_reference": xcn_reference, "xon_identifier": xon_identifier,
    "name": name, "address": address, "telecom": telecom, "location": location,
    "communication": communication, "reaction": reaction,
    "code": code, "coding_table": coding_table, "coded_table": coded_table, "coded": coded,
    "observation_value": observation_value, "reference_range": reference_range,
}

__all__ = ["Choice", "Location", "TRANSFORMS", "TransformError", "text_attachment"]
