"""Slicing (element scope): each value matches a slice by the discriminators; slice counts,
closed / openAtEnd / ordered rules. The walker walks each matched value with its slice
(`Descend`) and answers `profile` discriminators (`Conforms`)."""
from __future__ import annotations

from ..definitions import segments
from ..fhirpath import resolve_reference
from ..run import Conforms, Descend, issue
from .terminology import codings
from .values import matches_pattern


def _values_at(item, path: str) -> list:
    """The instance values a discriminator path reaches from an item."""
    if path in ("$this", ""):
        return [item]
    vals = [item]
    for kind, seg in segments(path):
        nxt = []
        for v in vals:
            if not isinstance(v, dict):
                continue
            if kind == "ext":
                nxt += [e for e in v.get("extension") or () if isinstance(e, dict)
                        and e.get("url") == seg]
                continue
            if kind == "resolve":
                r = resolve_reference(v)
                if r is not None:
                    nxt.append(r)
                continue
            x = v.get(seg)
            if x is None and seg not in v:
                for k, val in v.items():
                    if k.startswith(seg) and k[len(seg):][:1].isupper():
                        x = val
                        break
            if isinstance(x, list):
                nxt += x
            elif x is not None:
                nxt.append(x)
        vals = nxt
    return vals


def _expected(node, depth=0):
    """The value a value/pattern discriminator expects at `node`: its fixed or pattern value,
    or (as the reference validator does) the pattern its required descendants and slices
    fix, e.g. code.coding:SBPCode with fixed system and code -> {"coding": [{...}]}."""
    if node.fixed is not None:
        return node.fixed[1]
    if node.pattern is not None:
        return node.pattern[1]
    if depth > 4 or not node.has_explicit:
        return None
    out = {}
    seen = set()
    for name, (child, _t) in node.explicit.items():
        if child in seen or child.choice:
            continue
        seen.add(child)
        subs = []
        if child.slices:
            for sl in child.slices:
                if sl.min >= 1:
                    e = _expected(sl, depth + 1)
                    if e is not None:
                        subs.append(e)
        e = _expected(child, depth + 1) if not subs else None
        if subs:
            out[name] = subs
        elif e is not None:
            out[name] = [e] if child.is_array and not isinstance(e, list) else e
    return out or None


def _matches(item, sl, discriminators, run):
    """Generator: whether item belongs to slice sl; yields Conforms for `profile`
    discriminators (the walker sets the verdict before resuming)."""
    defs = run.defs
    for d in discriminators:
        dtype, path = d.get("type"), d.get("path", "$this")
        if "resolve" in path:
            # resolve() finds targets in the run's resource or bundle (fhirpath context
            # variables): a read of the run's context
            run.note_context()
        vals = _values_at(item, path)
        targets = defs.nodes_at(sl, path)
        target = targets[0] if targets else None
        if dtype in ("value", "pattern"):
            expected = None
            for cand in targets:
                expected = _expected(cand)
                if expected is not None:
                    break
            if expected is None and path == "url" and sl.types and sl.types[0].profiles:
                expected = sl.types[0].profiles[0]
            if expected is None and target is not None and target.binding and \
                    target.binding[0] == "required":
                exp = run.reg.expansion(target.binding[1])
                if exp is None:
                    return False
                ok = False
                for v in vals:
                    if isinstance(v, str):
                        ok = ok or any(v in cs for cs in exp["codes"].values())
                    elif isinstance(v, dict):
                        for c in codings(v, "CodeableConcept" if "coding" in v else "Coding"):
                            ok = ok or c.get("code") in exp["codes"].get(c.get("system"), ())
                if not ok:
                    return False
                continue
            if expected is None:
                continue
            if not any(matches_pattern(v, expected) for v in vals):
                return False
        elif dtype == "type":
            if target is None:
                return False
            allowed = {t.code for t in target.types}
            got = set()
            for v in vals:
                if isinstance(v, dict) and "resourceType" in v:
                    got.add(v["resourceType"])
            if path not in ("$this", "") and not got:
                # a choice: the JSON name tells the type
                stem = path.rsplit(".", 1)[-1].replace("[x]", "")
                parents = _values_at(item, path.rsplit(".", 1)[0]) if "." in path else [item]
                for pv in parents:
                    if isinstance(pv, dict):
                        for k in pv:
                            if k.startswith(stem) and k[len(stem):][:1].isupper():
                                got.add(k[len(stem):])
            if not got or not any(g in allowed or g[:1].lower() + g[1:] in allowed for g in got):
                return False
        elif dtype == "profile":
            if target is None:
                return False
            profs = [p for t in target.types for p in t.profiles]
            if not profs:
                continue
            ok = False
            for v in vals:
                if not isinstance(v, dict):
                    continue
                for p in profs:
                    cs = defs.compiled(p)
                    if cs is None or cs.type != v.get("resourceType"):
                        continue
                    question = Conforms(v, p)
                    yield question
                    if question.verdict:
                        ok = True
                        break
                if ok:
                    break
            if not ok:
                return False
        elif dtype == "exists":
            want = target.min > 0 if target is not None else True
            if bool(vals) != want:
                return False
    return True


_URL = ({"type": "value", "path": "url"},)


def slicing(values, element, type_code, location, run):
    slicing_ = element.slicing or {}
    slices = element.slices
    rules = slicing_.get("rules", "open")
    ordered = slicing_.get("ordered", False)
    discriminators = slicing_.get("discriminator") or ()
    if not discriminators and element.name in ("extension", "modifierExtension"):
        discriminators = _URL
    counts = [0] * len(slices)
    last_slice = -1
    unmatched_seen = False
    for i, item in enumerate(values.items):
        loc = values.locations[i]
        hit = None
        for si, sl in enumerate(slices):
            if (yield from _matches(item, sl, discriminators, run)):
                hit = si
                break
        if hit is None:
            if rules == "closed":
                yield issue("error", "structure",
                            f"This element does not match any known slice defined in the "
                            f"profile {element.sd_url} (slicing of {element.path} is closed)",
                            loc, element.source())
            unmatched_seen = True
            continue
        if rules == "openAtEnd" and unmatched_seen:
            yield issue("error", "structure", "Slices must come before unmatched items "
                        f"(slicing of {element.path} is open at end)", loc, element.source())
        if ordered and hit < last_slice:
            yield issue("error", "structure", f"The element is out of order (slicing of "
                        f"{element.path} is ordered)", loc, element.source())
        last_slice = max(last_slice, hit)
        counts[hit] += 1
        sl = slices[hit]
        tcode = sl.types[0].code if len(sl.types) == 1 else None
        if isinstance(item, dict) or (tcode is not None and tcode[:1].islower()):
            yield Descend(item, values.exts[i], sl, tcode, loc)
    for si, sl in enumerate(slices):
        label = f"{element.path}:{sl.slice_name}"
        if counts[si] < sl.min:
            yield issue("error", "structure",
                        f"Slice '{label}': a matching slice is required, but not found"
                        + (f" (found {counts[si]}, required {sl.min})" if counts[si] else ""),
                        location, sl.source())
        if sl.max is not None and counts[si] > sl.max:
            yield issue("error", "structure",
                        f"{label}: max allowed = {sl.max}, but found {counts[si]}", location,
                        sl.source())
