"""PATCH documents (R4 http.html#patch): JSON Patch, JSON Merge Patch and FHIRPath Patch.

`parse_patch` turns a request body (or a transaction entry's Binary / Parameters) into a
typed `PatchDocument` at planning time (400 for a malformed document); `apply_patch` applies
it to the current version inside the write transaction and returns a new dict, or a 422 that
names the operation that could not apply. The result is then validated like any write.

JSON Patch is applied by the `jsonpatch` library (one operation at a time so the failing one
can be named). JSON Merge Patch is RFC 7396's ten-line algorithm, written here because the
packages that offer it are unmaintained. FHIRPath Patch has no Python implementation: paths
are evaluated by fhirpathpy, and the elements found are located in the resource by a marker
key set on every object before evaluation (fhirpathpy returns copies, not the objects).
"""
from __future__ import annotations

import base64
import copy
import itertools
from dataclasses import dataclass
from typing import Callable

import jsonpatch
import jsonpointer

from ..outcomes import OperationOutcomeError, error
from .references import iter_references, rewritten
from ..wire import decode_json, JsonSyntaxError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
FHIR_TYPES = ("application/fhir+json", "application/json+fhir")
PLAIN_JSON = ("application/json", "text/json", "")

KINDS = ("json-patch", "merge-patch", "fhirpath-patch")

_MARK = "\x00patch-node"           # a key no FHIR JSON can carry (control character)


@dataclass(frozen=True)
class PatchDocument:
    kind: str                       # json-patch | merge-patch | fhirpath-patch
    body: object                    # list (JSON Patch) or dict (Merge Patch, Parameters)


def _bad(message: str, where: str = "", status: int = 400, code: str = "invalid"
         ) -> OperationOutcomeError:
    return OperationOutcomeError(error(code, message, *([where] if where else [])), status)


# -- references in patch values (transactions: urn:uuid / fullUrl / conditional) --------------

def _string_reference(kind: str, op: dict) -> bool:
    """Whether a JSON Patch / FHIRPath Patch operation sets a bare `reference` string."""
    if kind == "json-patch":
        return op.get("op") in ("add", "replace", "test") and \
            str(op.get("path", "")).rsplit("/", 1)[-1] == "reference"
    return (op.get("type") in ("replace", "insert") and
            str(op.get("path", "")).rsplit(".", 1)[-1] == "reference") or \
        (op.get("type") == "add" and op.get("name") == "reference")


def patch_references(doc: PatchDocument):
    """Every reference a patch writes: `reference` strings inside its values (JSON Patch and
    FHIRPath Patch values, a merge patch's body) and values that are a `reference` itself."""
    if doc.kind == "merge-patch":
        yield from iter_references(doc.body)
        return
    ops = doc.body if doc.kind == "json-patch" else doc.body["ops"]
    for op in ops:
        if not isinstance(op, dict) or "value" not in op:
            continue
        value = op["value"]
        if isinstance(value, str):
            if _string_reference(doc.kind, op):
                yield value
        else:
            yield from iter_references(value)


def patch_rewritten(doc: PatchDocument, mapping: dict[str, str]) -> PatchDocument:
    """`doc` with the references its values write rewritten by `mapping` (a transaction's
    fullUrls, conditional references and urn aliases -> Type/id), as the references of any
    resource a transaction writes; the same document when nothing changes."""
    if not mapping:
        return doc
    if doc.kind == "merge-patch":
        body = rewritten(doc.body, mapping)
        return doc if body is doc.body else PatchDocument(doc.kind, body)
    ops = doc.body if doc.kind == "json-patch" else doc.body["ops"]
    out, changed = [], False
    for op in ops:
        if isinstance(op, dict) and "value" in op:
            value = op["value"]
            if isinstance(value, str):
                new = mapping.get(value, value) if _string_reference(doc.kind, op) else value
            else:
                new = rewritten(value, mapping)
            if new is not value:
                op, changed = {**op, "value": new}, True
        out.append(op)
    if not changed:
        return doc
    return PatchDocument(doc.kind, out if doc.kind == "json-patch" else {**doc.body, "ops": out})


# -- parsing ----------------------------------------------------------------------------------

def parse_patch(mimetype: str, body: bytes | str | object, rtype: str, where: str = ""
                ) -> PatchDocument:
    """A PATCH body by its media type. A plain JSON object is a merge patch (fhirpy sends
    partial updates that way) unless it is a Parameters resource (a FHIRPath Patch); a JSON
    array is a JSON Patch whatever JSON media type it came with."""
    mimetype = (mimetype or "").lower()
    if mimetype not in (JSON_PATCH, MERGE_PATCH) + FHIR_TYPES + PLAIN_JSON:
        raise _bad(f"PATCH takes {JSON_PATCH}, {MERGE_PATCH} or a FHIRPath Patch "
                   f"(application/fhir+json Parameters), not {mimetype!r}", where, 415,
                   "not-supported")
    if isinstance(body, (bytes, bytearray, str)):
        if not (body.strip() if isinstance(body, str) else bytes(body).strip()):
            raise _bad("The PATCH request has no body", where, code="required")
        try:
            body = decode_json(body)
        except JsonSyntaxError as exc:
            raise _bad(f"The PATCH body is not valid JSON: {exc}", where,
                       code="structure") from None
    if mimetype == JSON_PATCH or (isinstance(body, list) and mimetype != MERGE_PATCH):
        return _json_patch(body, where)
    if not isinstance(body, dict):
        raise _bad("A merge patch or FHIRPath Patch body must be a JSON object", where,
                   code="structure")
    if mimetype != MERGE_PATCH and body.get("resourceType") == "Parameters" \
            and rtype != "Parameters":
        return _fhirpath_patch(body, where)
    return PatchDocument("merge-patch", body)


def patch_from_entry(resource: object, rtype: str, where: str) -> PatchDocument:
    """A transaction / batch PATCH entry: a Binary holding a JSON (Merge) Patch, or a
    Parameters resource (FHIRPath Patch)."""
    if not isinstance(resource, dict):
        raise _bad("A PATCH entry needs a resource: a Parameters (FHIRPath Patch) or a Binary "
                   "holding a JSON Patch", where, code="required")
    if resource.get("resourceType") == "Parameters":
        return _fhirpath_patch(resource, where)
    if resource.get("resourceType") == "Binary":
        ctype = (resource.get("contentType") or "").split(";")[0].strip().lower()
        try:
            data = base64.b64decode(resource.get("data") or "", validate=True)
        except ValueError:
            raise _bad("Binary.data is not valid base64", f"{where}.data") from None
        if ctype not in (JSON_PATCH, MERGE_PATCH):
            raise _bad(f"A PATCH Binary must be {JSON_PATCH} or {MERGE_PATCH}, not {ctype!r}",
                       f"{where}.contentType", 415, "not-supported")
        return parse_patch(ctype, data, rtype, f"{where}.data")
    raise _bad(f"A PATCH entry's resource is a Parameters or a Binary, not "
               f"{resource.get('resourceType')!r}", f"{where}.resourceType")


def _json_patch(body: object, where: str) -> PatchDocument:
    if not isinstance(body, list):
        raise _bad("A JSON Patch is a JSON array of operations", where, code="structure")
    for i, op in enumerate(body):
        try:
            jsonpatch.JsonPatch([op])._get_operation(op)
        except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError,
                AttributeError) as exc:
            raise _bad(f"JSON Patch operation {i} is malformed: {exc}", where) from None
    return PatchDocument("json-patch", body)


_FP_TYPES = ("add", "insert", "delete", "replace", "move")


def _fhirpath_patch(params: dict, where: str) -> PatchDocument:
    ops = []
    for i, p in enumerate(params.get("parameter") or []):
        at = f"{where or 'Parameters'}.parameter[{i}]"
        if not isinstance(p, dict) or p.get("name") != "operation":
            raise _bad("FHIRPath Patch parameters are all named 'operation'", f"{at}.name")
        parts = {}
        for part in p.get("part") or []:
            if isinstance(part, dict) and part.get("name"):
                parts[part["name"]] = part
        kind = _primitive(parts.get("type"))
        if kind not in _FP_TYPES:
            raise _bad(f"FHIRPath Patch operation type must be one of {', '.join(_FP_TYPES)}, "
                       f"not {kind!r}", at)
        path = _primitive(parts.get("path"))
        if not isinstance(path, str) or not path:
            raise _bad("FHIRPath Patch operation needs a path", at, code="required")
        need = {"add": ("name", "value"), "insert": ("value", "index"), "replace": ("value",),
                "move": ("source", "destination"), "delete": ()}[kind]
        missing = [n for n in need if n not in parts]
        if missing:
            raise _bad(f"FHIRPath Patch {kind} needs {' and '.join(missing)}", at,
                       code="required")
        op = {"type": kind, "path": path, "at": at}
        if "name" in parts:
            op["name"] = _primitive(parts["name"])
        if "value" in parts:
            op["value"] = _value(parts["value"])
        for n in ("index", "source", "destination"):
            if n in parts:
                v = _primitive(parts[n])
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise _bad(f"FHIRPath Patch {n} must be a non-negative integer", at)
                op[n] = v
        ops.append(op)
    if not ops:
        raise _bad("A FHIRPath Patch Parameters resource has no operation", where or
                   "Parameters", code="required")
    return PatchDocument("fhirpath-patch", {"ops": ops})


def _primitive(part: dict | None):
    if not part:
        return None
    for k, v in part.items():
        if k.startswith("value"):
            return v
    return None


def _value(part: dict):
    """`value[x]`, or a complex value spelled as parts (R4 fhirpatch.html)."""
    for k, v in part.items():
        if k.startswith("value"):
            return v
    out: dict = {}
    for sub in part.get("part") or []:
        if isinstance(sub, dict) and sub.get("name"):
            out[sub["name"]] = _value(sub)
    return out


# -- applying ---------------------------------------------------------------------------------

Repeats = Callable[[str], bool]     # element path ("Patient.name.given") -> max > 1


def apply_patch(doc: PatchDocument, current: dict, location: str,
                repeats: Repeats | None = None) -> dict:
    """The patched copy of `current`; 422 naming the operation that cannot apply."""
    if doc.kind == "json-patch":
        result = copy.deepcopy(current)
        for i, op in enumerate(doc.body):
            try:
                result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException,
                    TypeError, KeyError, IndexError) as exc:
                raise _unprocessable(f"JSON Patch operation {i} ({op.get('op')} "
                                     f"{op.get('path')}) cannot apply: {exc}", location) from None
    elif doc.kind == "merge-patch":
        result = merge_patch(current, doc.body)
    else:
        result = copy.deepcopy(current)
        for op in doc.body["ops"]:
            _FhirPathOp(result, op, location, repeats).apply()
        _prune(result)
    if not isinstance(result, dict):
        raise _unprocessable("The patch does not leave a resource (a JSON object)", location)
    for key in ("resourceType", "id"):
        if result.get(key) != current.get(key):
            raise _unprocessable(f"A patch may not change {key} ({current.get(key)!r} -> "
                                 f"{result.get(key)!r})", location)
    return result


def merge_patch(target: object, patch: object) -> object:
    """RFC 7396 section 2."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _unprocessable(message: str, location: str) -> OperationOutcomeError:
    return OperationOutcomeError(error("processing", message, *([location] if location
                                                               else [])), 422)


@dataclass
class _Slot:
    """Where a found element lives: container[key] (a dict key or a list index)."""
    container: object
    key: object
    elem_path: str                  # element path without indexes ("Patient.name.given")


class _FhirPathOp:
    def __init__(self, resource: dict, op: dict, location: str, repeats: Repeats | None):
        self.resource, self.op, self.repeats = resource, op, repeats
        self.where = op["at"]
        self.location = location

    def fail(self, message: str) -> OperationOutcomeError:
        return OperationOutcomeError(error(
            "processing", f"FHIRPath Patch {self.op['type']} at {self.op['path']!r} cannot "
            f"apply: {message}", self.where), 422)

    def apply(self) -> None:
        kind = self.op["type"]
        slots = self.find(self.op["path"])
        if kind == "delete":
            if len(slots) > 1:
                raise self.fail(f"the path matches {len(slots)} elements (at most one)")
            for slot in slots:
                self._remove(slot)
            return
        if len(slots) != 1:
            raise self.fail(f"the path matches {len(slots)} elements (exactly one is needed)")
        (slot,) = slots
        value = self.op.get("value")
        if kind == "replace":
            slot.container[slot.key] = copy.deepcopy(value)
        elif kind == "add":
            parent = slot.container[slot.key]
            if not isinstance(parent, dict):
                raise self.fail("the path is not an element that can have children")
            name = self.op["name"]
            existing = parent.get(name)
            if isinstance(existing, list):
                existing.append(copy.deepcopy(value))
            elif existing is not None:
                raise self.fail(f"{name} already has a value (use replace)")
            elif self.repeats is not None and self.repeats(f"{slot.elem_path}.{name}"):
                parent[name] = [copy.deepcopy(value)]
            else:
                parent[name] = copy.deepcopy(value)
        elif kind in ("insert", "move"):
            lst = slot.container[slot.key] if not isinstance(slot.container, list) \
                else slot.container
            if isinstance(slot.container, list):
                raise self.fail("the path must name the list itself (not one of its items)")
            if not isinstance(lst, list):
                lst = slot.container[slot.key] = [lst]
            if kind == "insert":
                if self.op["index"] > len(lst):
                    raise self.fail(f"index {self.op['index']} is past the end of the list "
                                    f"({len(lst)} items)")
                lst.insert(self.op["index"], copy.deepcopy(value))
            else:
                src, dst = self.op["source"], self.op["destination"]
                if src >= len(lst) or dst >= len(lst):
                    raise self.fail(f"source {src} / destination {dst} outside the list of "
                                    f"{len(lst)} items")
                lst.insert(dst, lst.pop(src))

    @staticmethod
    def _remove(slot: _Slot) -> None:
        if isinstance(slot.container, list):
            slot.container.pop(slot.key)
        else:
            slot.container.pop(slot.key, None)

    # -- locating -----------------------------------------------------------------------
    def find(self, path: str) -> list[_Slot]:
        """The slots of the elements `path` selects. Objects are found by marker; primitives
        as `parent.name` (or `parent.name[i]`) under the objects the parent path selects."""
        import fhirpathpy
        from fhirpathpy.models import models

        parent_path, name, index = _split_last(path)
        counter = itertools.count()
        slots: dict[int, _Slot] = {}
        root = _Slot({"": self.resource}, "", self.resource.get("resourceType", ""))
        _mark(self.resource, root, counter, slots)
        try:
            expr = parent_path if name is not None else path
            try:
                found = fhirpathpy.evaluate(self.resource, expr, {}, models["r4"])
            except Exception as exc:  # fhirpathpy's parser and engine raise many types
                raise self.fail(f"the path does not evaluate ({type(exc).__name__}: "
                                f"{str(exc)[:120]})") from None
        finally:
            _unmark(self.resource)
        nodes = [slots[n[_MARK]] for n in found if isinstance(n, dict) and _MARK in n]
        if len(nodes) != len(found):
            if name is None:
                raise self.fail("the path selects values that are not elements of the "
                                "resource")
        if name is None:
            return nodes
        out = []
        for node in nodes:
            parent = node.container[node.key]
            if not isinstance(parent, dict) or name not in parent:
                continue
            value, elem = parent[name], f"{node.elem_path}.{name}"
            if isinstance(value, list):
                if index is not None:
                    if index < len(value):
                        out.append(_Slot(value, index, elem))
                elif self.op["type"] in ("insert", "move"):
                    out.append(_Slot(parent, name, elem))      # the list itself
                else:
                    out.extend(_Slot(value, i, elem) for i in range(len(value)))
            elif index in (None, 0):
                out.append(_Slot(parent, name, elem))
        return out


def _split_last(path: str) -> tuple[str, str | None, int | None]:
    """`Patient.name.given[0]` -> (`Patient.name`, `given`, 0); a path ending in a function
    call or a filter -> (path, None, None): its result objects are found by marker."""
    p = path.strip()
    index = None
    if p.endswith("]"):
        start = p.rfind("[")
        inner = p[start + 1:-1].strip()
        if start <= 0 or not inner.isdigit():
            return p, None, None
        index, p = int(inner), p[:start]
    depth = 0
    for i in range(len(p) - 1, -1, -1):
        ch = p[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            depth -= 1
        elif ch == "." and depth == 0:
            name = p[i + 1:]
            if name.isidentifier():
                return p[:i], name, index
            break
    if index is not None:
        return path.strip(), None, None
    return p, None, None


def _mark(node, slot: _Slot, counter, slots: dict) -> None:
    if isinstance(node, dict):
        n = next(counter)
        node[_MARK] = n
        slots[n] = slot
        for k, v in list(node.items()):
            if k == _MARK:
                continue
            elem = f"{slot.elem_path}.{k}"
            for i, item in (enumerate(v) if isinstance(v, list) else ((None, v),)):
                if isinstance(item, dict):
                    # a contained resource starts an element path of its own type
                    path = item["resourceType"] if isinstance(item.get("resourceType"),
                                                                str) else elem
                    _mark(item, _Slot(v, i, path) if i is not None else _Slot(node, k, path),
                          counter, slots)


def _prune(node) -> None:
    """Deleting the last item of a list leaves no empty array or object (invalid FHIR JSON)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    empty = []
    for k, v in list(items):
        _prune(v)
        if v in ([], {}):
            empty.append(k)
    for k in reversed(empty):
        node.pop(k)


def _unmark(node) -> None:
    if isinstance(node, dict):
        node.pop(_MARK, None)
        for v in node.values():
            _unmark(v)
    elif isinstance(node, list):
        for v in node:
            _unmark(v)


def repeats_in(state) -> Repeats:
    """Whether an element path repeats (max > 1), from the R4 snapshots of `state`
    (a definitions RegistryState): `Patient.name.given` walks Patient, then HumanName."""
    def find(elements, path):
        for el in elements or ():
            if el.get("path") == path:
                return el
        return None

    def repeats(elem_path: str) -> bool:
        segs = elem_path.split(".")
        tcode, path = segs[0], segs[0]
        elements = state.snapshot(state.type_url(tcode))
        el = None
        for seg in segs[1:]:
            el = find(elements, f"{path}.{seg}")
            if el is None:
                parent = find(elements, path)
                types = (parent or {}).get("type") or []
                if not types:
                    return False
                code = types[0].get("code")
                elements = state.snapshot(state.type_url(code))
                path = code
                el = find(elements, f"{path}.{seg}")
                if el is None:
                    return False
            path = f"{path}.{seg}"
        if el is None:
            return False
        mx = str(el.get("max", "1"))
        return mx == "*" or (mx.isdigit() and int(mx) > 1)
    return repeats
