"""Native invariants: one table, keyed by constraint key, each entry beside the FHIRPath it replaces.

These invariants sit on nearly every instance (ele-1 on every element, ext-1 on every
extension, the Bundle ones walk every entry), so fhirpathpy would dominate the cost of a
validation. A native function is used only for the exact core R4 expression (whitespace
normalised): a profile that reuses a key with another expression gets fhirpathpy.

`check(focus, resource)` returns True (kept), False (violated), or None for a shape it does not
model (JSON nulls, `_x` primitive extensions, wrong JSON types): fhirpathpy decides then.
`resource` is %resource / %rootResource: the resource being validated (for a contained resource,
its container). `explain`, when present, gives one detail per violation (one issue each).
`differs` says where the native verdict deliberately is not fhirpathpy's, and why.
tests/unit/validation/test_native_invariants.py compares every entry with fhirpathpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .primitives import date_key


@dataclass(frozen=True)
class Native:
    key: str
    expression: str
    check: Callable[[object, object], bool | None]
    explain: Callable[[object, object], list[str]] | None = None
    differs: str = ""
    # for an expression that reads %resource / %rootResource: whether `check` needs the
    # resource for this focus (None: always). False means the resource is not read for it
    # (the constraint rule then passes None and reads no context).
    needs_resource: Callable[[object], bool] | None = None


_ODD = object()  # a value shape the native functions leave to fhirpathpy


def _prim(obj: dict, key: str):
    """A string primitive child: its value, None when absent, _ODD otherwise."""
    if "_" + key in obj:
        return _ODD
    if key not in obj:
        return None
    v = obj[key]
    return v if isinstance(v, str) else _ODD


def _child(obj: dict, key: str):
    """A single complex child: the dict, None when absent, _ODD otherwise."""
    if "_" + key in obj:
        return _ODD
    if key not in obj:
        return None
    v = obj[key]
    return v if isinstance(v, dict) else _ODD


# ---------------------------------------------------------------- elements and data types
def _ele_1(e, resource):
    if e.__class__ is not dict:
        # a primitive has a value, or (None) only its `_name` part, whose id and extensions
        # are its children; a JSON null is a shape error the walker reports
        return True
    if len(e) > 2:
        return True
    for k in e:
        if k != "id" and k != "_id":
            return True
    return False


def _ext_1(e, resource):
    if not isinstance(e, dict):
        return None
    ext = e.get("extension", _ODD if "extension" in e else None)
    if ext is _ODD or ext == [] or (ext is not None and not isinstance(ext, list)):
        return None
    has_value = False
    for k, v in e.items():
        if k.startswith(("value", "_value")):
            if v is None:
                return None
            has_value = True
    return bool(ext) != has_value


def _per_1(p, resource):
    if not isinstance(p, dict):
        return None
    start, end = _prim(p, "start"), _prim(p, "end")
    if start is _ODD or end is _ODD:
        return None
    if start is None or end is None:
        return True
    a, b = date_key(start), date_key(end)
    if a is None or b is None:
        return True  # not dates: a format error, reported once by the type rule
    if ("T" in start) == ("T" in end) and len(start.split("T")[0]) == len(end.split("T")[0]):
        return a <= b
    n = min(len(start.split("T")[0]), len(end.split("T")[0]))
    if start[:n] != end[:n]:
        return start[:n] < end[:n]
    return False


def _rng_2(r, resource):
    if not isinstance(r, dict):
        return None
    low, high = _child(r, "low"), _child(r, "high")
    if low is _ODD or high is _ODD:
        return None
    if low is None or high is None:
        return True
    a, b = low.get("value"), high.get("value")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
        return None
    if (low.get("system"), low.get("code")) != (high.get("system"), high.get("code")):
        return None  # different units: a UCUM conversion this code does not do
    return a <= b


def _ref_1(r, resource):
    if not isinstance(r, dict):
        return None
    ref = _prim(r, "reference")
    if ref is _ODD:
        return None
    if ref is None or not ref.startswith("#") or ref == "#":
        return True
    root = resource if isinstance(resource, dict) else {}
    contained = root.get("contained") or ()
    if not isinstance(contained, list):
        return None
    return any(isinstance(c, dict) and c.get("id") == ref[1:] for c in contained)


def _empty_or_system(name: str):
    """`<name>.empty() or system.exists()` (qty-3 on code, cpt-2 on value)."""
    def check(obj, resource):
        if obj.__class__ is not dict:
            return None
        value, system = _prim(obj, name), _prim(obj, "system")
        if value is _ODD or system is _ODD:
            return None
        return value is None or system is not None
    return check


def _dom_6(r, resource):
    if not isinstance(r, dict):
        return None
    text = _child(r, "text")
    if text is _ODD:
        return None
    return text is not None and "div" in text


def _vs_1(effective, resource):
    # effective[x] of a vital sign: a dateTime (a string here) to the day at least; a
    # Period is not a dateTime (`as` is empty: no violation)
    if effective.__class__ is str:
        return len(effective) >= 8
    return True if effective.__class__ is dict else None


def _hash_refs(v, out: set):
    """Every string starting with '#' in a resource (references, canonicals, uris)."""
    if isinstance(v, dict):
        for x in v.values():
            _hash_refs(x, out)
    elif isinstance(v, list):
        for x in v:
            _hash_refs(x, out)
    elif isinstance(v, str) and v[:1] == "#":
        out.add(v)


def _dom_3_unmatched(r, resource) -> list[str]:
    contained = r.get("contained") if isinstance(r, dict) else None
    if not isinstance(contained, list) or not contained:
        return []
    refs: set = set()
    _hash_refs(r, refs)
    out = []
    for c in contained:
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            continue
        if "#" + c["id"] in refs:
            continue
        inner: set = set()
        _hash_refs(c, inner)
        if "#" not in inner:
            out.append(c["id"])
    return out


def _dom_3(r, resource):
    return not _dom_3_unmatched(r, resource)


def _contained(r):
    """The contained resources as a list of dicts ([] when absent), None for another shape."""
    if not isinstance(r, dict) or "_contained" in r:
        return None
    cs = r.get("contained", _ODD if "contained" in r else None)
    if cs is None:
        return []
    if not isinstance(cs, list) or not cs or not all(isinstance(c, dict) for c in cs):
        return None
    return cs


def _contained_without(child_of):
    """dom-2 / dom-4 / dom-5: no contained resource has any of the children `child_of(c)`
    names ((object, name, repeating) each); a value of another shape than its element's (a
    string, a non-empty list of objects), a `_name` part or a null goes to fhirpathpy.
    They run on every resource with contained resources (a Synthea ExplanationOfBenefit),
    where fhirpathpy cost ~0.1 ms each."""
    def check(r, resource):
        cs = _contained(r)
        if cs is None:
            return None
        for c in cs:
            got = child_of(c)
            if got is None:
                return None
            for obj, name, many in got:
                if "_" + name in obj:
                    return None
                if name in obj:
                    v = obj[name]
                    if many and isinstance(v, list) and v and all(
                            isinstance(x, dict) and x for x in v):
                        return False
                    if not many and isinstance(v, str):
                        return False
                    return None
        return True
    return check


def _meta_children(*names):
    def child_of(c):
        meta = _child(c, "meta")
        if meta is _ODD:
            return None
        return [] if meta is None else [(meta, n, many) for n, many in names]
    return child_of


def _nested_contained(c):
    return [(c, "contained", True)]


def _org_1(o, resource):
    if not isinstance(o, dict) or "_identifier" in o:
        return None
    name = _prim(o, "name")
    if name is _ODD:
        return None
    ids = o.get("identifier", _ODD if "identifier" in o else None)
    if ids is None:
        return name is not None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, dict) and i for i in ids):
        return None
    return True


def _object(obj: dict, key: str):
    """A single complex child with content: the dict, None when absent, _ODD otherwise (an
    empty object too)."""
    got = _child(obj, key)
    return got if got is _ODD or got is None or got else _ODD


def _objects(obj: dict, key: str):
    """A repeating complex child: its list of objects with content ([] when absent), _ODD for
    another shape."""
    if "_" + key in obj:
        return _ODD
    if key not in obj:
        return []
    v = obj[key]
    if v.__class__ is not list or not v or not all(x.__class__ is dict and x for x in v):
        return _ODD
    return v


def _choice(obj: dict, name: str, types: tuple):
    """Whether a choice element (name[x], of the given type suffixes) has a value: True,
    False, or _ODD for a shape left to fhirpathpy (a null, a `_name` part, a suffix the model
    does not know)."""
    n = len(name)
    found = False
    for k, v in obj.items():
        if k.startswith(name) and k[n:n + 1].isupper() or \
                k[:1] == "_" and k[1:].startswith(name) and k[n + 1:n + 2].isupper():
            if k[0] == "_" or k[n:] not in types or v is None or v == [] or v == {}:
                return _ODD
            found = True
    return found


def _coded(obj: dict, key: str, system: str, codes: tuple):
    """`key.coding.where(system = S and code in codes).exists()` of a CodeableConcept child:
    True / False, or _ODD for a shape left to fhirpathpy."""
    cc = _object(obj, key)
    if cc is None:
        return False
    if cc is _ODD:
        return _ODD
    codings = _objects(cc, "coding")
    if codings is _ODD:
        return _ODD
    hit = False
    for c in codings:
        sy, co = _prim(c, "system"), _prim(c, "code")
        if sy is _ODD or co is _ODD:
            return _ODD
        hit = hit or (sy == system and co in codes)
    return hit


# Condition.abatement[x], Observation.value[x] and their types
_ABATEMENT = ("DateTime", "Age", "Period", "Range", "String")
_OBS_VALUE = ("Quantity", "CodeableConcept", "String", "Boolean", "Integer", "Range", "Ratio",
              "SampledData", "Time", "DateTime", "Period")
_VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _con_3(c, resource):
    if c.__class__ is not dict:
        return None
    status = _object(c, "clinicalStatus")
    if status is _ODD:
        return None
    if status is not None:
        return True
    err = _coded(c, "verificationStatus", _VER_STATUS, ("entered-in-error",))
    if err is _ODD:
        return None
    if err or ("category" not in c and "_category" not in c):
        return True
    return None  # select($this = 'problem-list-item') over CodeableConcepts: fhirpathpy's


def _con_4(c, resource):
    if c.__class__ is not dict:
        return None
    abated = _choice(c, "abatement", _ABATEMENT)
    if abated is _ODD:
        return None
    if not abated:
        return True
    got = _coded(c, "clinicalStatus", _CLINICAL, ("resolved", "remission", "inactive"))
    return None if got is _ODD else got


def _con_5(c, resource):
    if c.__class__ is not dict:
        return None
    err = _coded(c, "verificationStatus", _VER_STATUS, ("entered-in-error",))
    if err is _ODD:
        return None
    if not err:
        return True
    status = _object(c, "clinicalStatus")
    return None if status is _ODD else status is None


def _obs_6(o, resource):
    if o.__class__ is not dict:
        return None
    absent = _object(o, "dataAbsentReason")
    if absent is _ODD:
        return None
    if absent is None:
        return True
    value = _choice(o, "value", _OBS_VALUE)
    return None if value is _ODD else not value


def _obs_7(o, resource):
    # a value beside components whose codes repeat the Observation's: fhirpathpy's (with
    # %resource); without a value or without components the invariant holds
    if o.__class__ is not dict:
        return None
    value = _choice(o, "value", _OBS_VALUE)
    if value is _ODD:
        return None
    if not value or ("component" not in o and "_component" not in o):
        return True
    return None


def _vs_2(o, resource):
    if o.__class__ is not dict:
        return None
    comp, members = _objects(o, "component"), _objects(o, "hasMember")
    if comp is _ODD or members is _ODD:
        return None
    if comp or members:
        return True
    absent = _object(o, "dataAbsentReason")
    value = _choice(o, "value", _OBS_VALUE)
    if absent is _ODD or value is _ODD:
        return None
    return absent is not None or value


def _not_home(v, resource):
    # Organization.address / telecom: where(use = 'home').empty() on each value
    if v.__class__ is not dict:
        return None
    use = _prim(v, "use")
    return None if use is _ODD else use != "home"


# ---------------------------------------------------------------- Bundle
# Evaluated by fhirpathpy over a whole transaction bundle these cost more than the rest of its
# validation; computed here with the semantics fhirpathpy gives the exact expressions
# (including three-valued logic: an empty result is no violation, `all()` fails on an empty
# criterion).
def _entries(bundle: dict):
    """Bundle.entry as a list of dicts ([] when absent), or None for another shape."""
    if "_entry" in bundle:
        return None
    es = bundle.get("entry", _ODD if "entry" in bundle else None)
    if es is None:
        return []
    if not isinstance(es, list) or not all(isinstance(e, dict) for e in es):
        return None
    return es


def _bdl_1(b, resource):
    if "_total" in b or ("total" in b and (b["total"] is None or isinstance(b["total"], (list, dict)))):
        return None
    if "total" not in b:
        return True
    t = _prim(b, "type")
    if t is _ODD:
        return None
    return t is None or t in ("searchset", "history")


def _bdl_2(b, resource):
    es = _entries(b)
    if es is None:
        return None
    search = False
    for e in es:
        s = _child(e, "search")
        if s is _ODD:
            return None
        search = search or s is not None
    if not search:
        return True
    t = _prim(b, "type")
    if t is _ODD:
        return None
    return t is None or t == "searchset"


def _entries_all_exist(child: str, types: tuple):
    def check(b, resource):
        es = _entries(b)
        if es is None or not isinstance(resource, dict):
            return None
        if not es:
            return True
        t = _prim(resource, "type")
        if t is _ODD:
            return None
        want = None if t is None else t in types
        for e in es:
            c = _child(e, child)
            if c is _ODD:
                return None
            if want is None or (c is not None) != want:
                return False  # an empty criterion fails all() too
        return True
    return check


def _bdl_7(b, resource):
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t == "history":
        return True
    es = _entries(b)
    if es is None:
        return None
    seen = set()
    distinct = True
    for e in es:
        full = _prim(e, "fullUrl")
        if full is _ODD:
            return None
        if full is None:
            continue
        vid = None
        res = _child(e, "resource")
        if res is _ODD:
            return None
        if res is not None:
            meta = _child(res, "meta")
            if meta is _ODD:
                return None
            if meta is not None:
                vid = _prim(meta, "versionId")
                if vid is _ODD:
                    return None
        k = full + (vid or "")
        if k in seen:
            distinct = False
        seen.add(k)
    # type absent: empty or false is empty, which is no violation
    return distinct or t is None


def _bdl_8(e, resource):
    full = _prim(e, "fullUrl")
    if full is _ODD:
        return None
    return full is None or "/_history/" not in full


def _bdl_9(b, resource):
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t != "document":
        return True
    ident = _child(b, "identifier")
    if ident is _ODD:
        return None
    if ident is None:
        return False
    sy, va = _prim(ident, "system"), _prim(ident, "value")
    if sy is _ODD or va is _ODD:
        return None
    return sy is not None and va is not None


def _bdl_10(b, resource):
    t = _prim(b, "type")
    if t is _ODD:
        return None
    if t != "document":
        return True
    ts = _prim(b, "timestamp")
    if ts is _ODD:
        return None
    return ts is not None


def _bdl_5(e, resource):
    if e.__class__ is not dict:
        return None
    odd = False
    for k in ("resource", "request", "response"):
        got = _object(e, k)
        if got is _ODD:
            odd = True
        elif got is not None:
            return True
    return None if odd else False


def _first_entry_is(btype: str, rtype: str):
    def check(b, resource):
        t = _prim(b, "type")
        if t is _ODD:
            return None
        if t != btype:
            return True
        es = _entries(b)
        if es is None:
            return None
        if not es:
            return True  # empty implies: no violation
        res = _child(es[0], "resource")
        if res is _ODD or (res is not None and not isinstance(res.get("resourceType"), str)):
            return None
        return res is None or res["resourceType"] == rtype
    return check


NATIVE: dict[str, Native] = {n.key: n for n in (
    Native("ele-1", "hasValue() or (children().count() > id.count())", _ele_1,
           differs="a property whose value is null or an empty array counts as a child (the "
                   "walker reports that shape once, as the reference validator does), and so "
                   "does a primitive given only by its _name part, which fhirpathpy misses "
                   "(the constraint rule sees a primitive's value, not its _name part)"),
    Native("ext-1", "extension.exists() != value.exists()", _ext_1),
    Native("per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)", _per_1,
           differs="start and end of different precision that agree on their common "
                   "precision (2020-01 and 2020-01-05) cannot be ordered: FHIRPath gives an "
                   "empty result, which the reference validator reports as a violation"),
    Native("rng-2", "low.empty() or high.empty() or (low <= high)", _rng_2,
           differs="fhirpathpy cannot compare Quantities (TypeError); natively low and high of "
                   "the same unit compare by value, other units are left undecided"),
    Native("ref-1", "reference.startsWith('#').not() or (reference.substring(1).trace('url') "
                    "in %rootResource.contained.id.trace('ids'))", _ref_1,
           needs_resource=lambda r: not (isinstance(r, dict) and "_reference" not in r and (
               not isinstance(r.get("reference"), str) or not r["reference"].startswith("#")
               or r["reference"] == "#"))),
    Native("qty-3", "code.empty() or system.exists()", _empty_or_system("code")),
    Native("dom-3", "contained.where((('#'+id in (%resource.descendants().reference | "
                    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
                    "%resource.descendants().as(url))) or descendants().where(reference = '#')"
                    ".exists() or descendants().where(as(canonical) = '#').exists() or "
                    "descendants().where(as(canonical) = '#').exists()).not())"
                    ".trace('unmatched', id).empty()", _dom_3,
           explain=lambda r, resource: [f"unmatched: {i}" for i in _dom_3_unmatched(r, resource)],
           differs="fhirpathpy refuses as() on a collection (descendants().as(canonical)), "
                   "which the reference validator accepts; natively every string starting "
                   "with '#' anywhere in the resource counts as a reference"),
    Native("dom-6", "text.`div`.exists()", _dom_6),
    Native("dom-2", "contained.contained.empty()", _contained_without(_nested_contained)),
    Native("dom-4", "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()",
           _contained_without(_meta_children(("versionId", False), ("lastUpdated", False)))),
    Native("dom-5", "contained.meta.security.empty()",
           _contained_without(_meta_children(("security", True)))),
    Native("org-1", "(identifier.count() + name.count()) > 0", _org_1),
    Native("vs-1", "($this as dateTime).toString().length() >= 8", _vs_1,
           differs="fhirpathpy does not know the type of a primitive focus, so `$this as "
                   "dateTime` is empty and it never fails; natively 2024-03 fails, as in the "
                   "reference validator"),
    Native("con-3", "clinicalStatus.exists() or verificationStatus.coding.where(system='http://"
                    "terminology.hl7.org/CodeSystem/condition-ver-status' and code = "
                    "'entered-in-error').exists() or category.select($this='problem-list-item')"
                    ".empty()", _con_3),
    Native("con-4", "abatement.empty() or clinicalStatus.coding.where(system='http://terminology"
                    ".hl7.org/CodeSystem/condition-clinical' and (code='resolved' or "
                    "code='remission' or code='inactive')).exists()", _con_4),
    Native("con-5", "verificationStatus.coding.where(system='http://terminology.hl7.org/"
                    "CodeSystem/condition-ver-status' and code='entered-in-error').empty() or "
                    "clinicalStatus.empty()", _con_5),
    Native("obs-6", "dataAbsentReason.empty() or value.empty()", _obs_6),
    Native("obs-7", "value.empty() or component.code.where(coding.intersect(%resource.code."
                    "coding).exists()).empty()", _obs_7,
           needs_resource=lambda o: False),
    Native("vs-2", "(component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() "
                   "or value.exists())", _vs_2),
    Native("cpt-2", "value.empty() or system.exists()", _empty_or_system("value")),
    Native("org-2", "where(use = 'home').empty()", _not_home),
    Native("org-3", "where(use = 'home').empty()", _not_home),
    Native("bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')", _bdl_1),
    Native("bdl-2", "entry.search.empty() or (type = 'searchset')", _bdl_2),
    Native("bdl-3", "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = "
                    "'transaction' or %resource.type = 'history'))",
           _entries_all_exist("request", ("batch", "transaction", "history"))),
    Native("bdl-4", "entry.all(response.exists() = (%resource.type = 'batch-response' or "
                    "%resource.type = 'transaction-response' or %resource.type = 'history'))",
           _entries_all_exist("response", ("batch-response", "transaction-response", "history"))),
    Native("bdl-5", "resource.exists() or request.exists() or response.exists()", _bdl_5),
    Native("bdl-7", "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource."
                    "meta.versionId).isDistinct()", _bdl_7),
    Native("bdl-8", "fullUrl.contains('/_history/').not()", _bdl_8),
    Native("bdl-9", "type = 'document' implies (identifier.system.exists() and "
                    "identifier.value.exists())", _bdl_9),
    Native("bdl-10", "type = 'document' implies (timestamp.hasValue())", _bdl_10),
    Native("bdl-11", "type = 'document' implies entry.first().resource.is(Composition)",
           _first_entry_is("document", "Composition")),
    Native("bdl-12", "type = 'message' implies entry.first().resource.is(MessageHeader)",
           _first_entry_is("message", "MessageHeader")),
)}


def native_for(key: str, expression: str) -> Native | None:
    """The native entry for a constraint, only when its expression is the core one."""
    hit = NATIVE.get(key)
    if hit is None or " ".join(expression.split()) != hit.expression:
        return None
    return hit
