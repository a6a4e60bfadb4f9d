"""QuestionnaireResponse against its Questionnaire (value scope, on a QuestionnaireResponse).

The Questionnaire is found by the response's canonical (url or url|version) among the
registry's canonical resources, or as a contained resource (`#id`). An unknown Questionnaire
is not an error (the reference validator only notes it). Checked per item, by linkId: the
item exists in the Questionnaire; `display` items have no answers and groups none either;
required items are answered (unless not enabled, or the response is in progress); one answer
unless `repeats` (and at most questionnaire-maxOccurs); the answer's type fits the item type;
answerOption values; regex, mimeType, unitOption, minValue/maxValue extensions.
"""
from __future__ import annotations

import re

from ..run import issue
from .terminology import _display, may_be_in
from .units import compare_quantities

EXT = "http://hl7.org/fhir/StructureDefinition/"
# item type -> the answer value[x] types R4 allows for it
ANSWER_TYPES = {
    "boolean": ("boolean",), "decimal": ("decimal",), "integer": ("integer",),
    "date": ("date",), "dateTime": ("dateTime",), "time": ("time",),
    "string": ("string",), "text": ("string",), "url": ("uri",),
    "choice": ("Coding", "integer", "date", "time", "string"),
    "open-choice": ("Coding", "integer", "date", "time", "string"),
    "attachment": ("Attachment",), "reference": ("Reference",), "quantity": ("Quantity",),
}
_VALUE_KEYS = {"valueBoolean": "boolean", "valueDecimal": "decimal", "valueInteger": "integer",
               "valueDate": "date", "valueDateTime": "dateTime", "valueTime": "time",
               "valueString": "string", "valueUri": "uri", "valueAttachment": "Attachment",
               "valueCoding": "Coding", "valueQuantity": "Quantity",
               "valueReference": "Reference"}


SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
# the limit extensions on quantity items: the core ones and SDC's
LIMITS = {"minValue": ("minValue", SDC + "sdc-questionnaire-minQuantity"),
          "maxValue": ("maxValue", SDC + "sdc-questionnaire-maxQuantity")}


def _ext(item: dict, *names: str):
    urls = {n if "://" in n else EXT + n for n in names}
    for e in item.get("extension") or ():
        if isinstance(e, dict) and e.get("url") in urls:
            yield e


def _find_questionnaire(qr: dict, run) -> dict | None:
    ref = qr.get("questionnaire")
    if not isinstance(ref, str):
        return None
    if ref.startswith("#"):
        for c in qr.get("contained") or ():
            if isinstance(c, dict) and c.get("id") == ref[1:] and \
                    c.get("resourceType") == "Questionnaire":
                return c
        return None
    return run.reg.canonical("Questionnaire", ref)


def _answer_value(answer: dict):
    for key, t in _VALUE_KEYS.items():
        if key in answer:
            return t, answer[key]
    return None, None


def questionnaire_response(value, element, type_code, location, run):
    if value.__class__ is not dict:
        return ()
    q = _find_questionnaire(value, run)
    if q is None:
        return ()
    out: list = []
    answers = _answers_by_link(value.get("item"))
    completed = value.get("status") not in ("in-progress", "entered-in-error", "stopped")
    _items(value.get("item"), q.get("item"), location, out, answers, completed, run.reg)
    return out


def _answers_by_link(items, acc=None) -> dict:
    acc = {} if acc is None else acc
    for it in items if isinstance(items, list) else ():
        if not isinstance(it, dict):
            continue
        for a in it.get("answer") or ():
            if isinstance(a, dict):
                acc.setdefault(it.get("linkId"), []).append(_answer_value(a))
                _answers_by_link(a.get("item"), acc)
        _answers_by_link(it.get("item"), acc)
    return acc


def _enabled(qitem: dict, answers: dict) -> bool:
    conds = [c for c in qitem.get("enableWhen") or () if isinstance(c, dict)]
    if not conds:
        return True
    results = [_condition(c, answers.get(c.get("question"), [])) for c in conds]
    if qitem.get("enableBehavior") == "any":
        return any(results)
    return all(results)


def _condition(cond: dict, given: list) -> bool:
    op = cond.get("operator")
    want = next((v for k, v in cond.items() if k.startswith("answer")), None)
    if op == "exists":
        return bool(given) == bool(want)
    for _t, v in given:
        if isinstance(want, dict) and isinstance(v, dict):
            same = want.get("code") == v.get("code") and \
                (want.get("system") is None or want.get("system") == v.get("system"))
            if (op == "=" and same) or (op == "!=" and not same):
                return True
            continue
        try:
            if (op == "=" and v == want) or (op == "!=" and v != want) or \
                    (op == ">" and v > want) or (op == "<" and v < want) or \
                    (op == ">=" and v >= want) or (op == "<=" and v <= want):
                return True
        except TypeError:
            continue
    return op == "!=" and not given


def _items(qr_items, q_items, location: str, out: list, answers: dict, completed: bool,
           reg):
    q_by_link = {i.get("linkId"): i for i in q_items or () if isinstance(i, dict)}
    seen: set = set()
    for n, it in enumerate(qr_items if isinstance(qr_items, list) else ()):
        if not isinstance(it, dict):
            continue
        where = f"{location}.item[{n}]"
        link = it.get("linkId")
        qi = q_by_link.get(link)
        if qi is None:
            out.append(issue("error", "structure",
                             f"LinkId '{link}' not found in questionnaire", location))
            continue
        seen.add(link)
        _item(it, qi, where, out, answers, completed, reg)
    for link, qi in q_by_link.items():
        if link not in seen and qi.get("required") is True and completed and \
                qi.get("type") != "display" and _enabled(qi, answers):
            out.append(issue("error", "required",
                             f"No response answer found for required item '{link}'", location))


def _item(it: dict, qi: dict, where: str, out: list, answers: dict, completed: bool,
          reg):
    qtype = qi.get("type")
    given = [a for a in it.get("answer") or () if isinstance(a, dict)]
    if qtype == "display" and given:
        out.append(issue("error", "structure",
                         "Items of type 'display' cannot have answers", where))
        return
    if qtype == "group":
        if given:
            out.append(issue("error", "structure", "Items of type group should not have "
                             "answers (their items belong in item, not in answer.item)", where))
        _items(it.get("item"), qi.get("item"), where, out, answers, completed, reg)
        return
    if not given and qi.get("required") is True and completed and _enabled(qi, answers):
        out.append(issue("error", "required",
                         f"No response answer found for required item '{qi.get('linkId')}'",
                         where))
    if len(given) > 1 and qi.get("repeats") is not True:
        out.append(issue("error", "structure", f"Only one answer is allowed for item "
                         f"'{qi.get('linkId')}' (repeats is not true)", where))
    for e in _ext(qi, "questionnaire-maxOccurs"):
        mx = e.get("valueInteger")
        if isinstance(mx, int) and len(given) > mx:
            out.append(issue("error", "structure", f"The maximum number of answers is {mx} "
                             f"but this has {len(given)} answers", where))
    allowed = ANSWER_TYPES.get(qtype)
    for k, a in enumerate(given):
        awhere = f"{where}.answer[{k}]"
        t, v = _answer_value(a)
        if t is None:
            # a value[x] of no R4 type is reported by the structure rules
            pass
        elif allowed is not None and t not in allowed:
            out.append(issue("error", "structure", f"Answer value must be of the type "
                             f"{_type_name(allowed)} not {t}", f"{awhere}.value.ofType({t})"))
        else:
            _answer(t, v, qi, f"{awhere}.value.ofType({t})", awhere, out, reg)
        # answers of an item may have nested items (questions below an answer)
        if a.get("item"):
            _items(a.get("item"), qi.get("item"), awhere, out, answers, completed, reg)


def _shown(q: dict) -> str:
    unit = q.get("unit") or q.get("code")
    return f"{q.get('value')} {unit}" if unit else f"{q.get('value')}"


def _type_name(allowed: tuple) -> str:
    return allowed[0] if len(allowed) == 1 else " or ".join(allowed)


def _answer(t: str, v, qi: dict, vwhere: str, awhere: str, out: list, reg):
    options = [o for o in qi.get("answerOption") or () if isinstance(o, dict)]
    if options:
        ok = False
        for o in options:
            ot, ov = _answer_value(o)
            if ot != t:
                continue
            if t == "Coding" and isinstance(v, dict) and isinstance(ov, dict):
                if ov.get("code") == v.get("code") and \
                        (ov.get("system") is None or ov.get("system") == v.get("system")):
                    ok = True
            elif ov == v:
                ok = True
        if not ok and not (qi.get("type") == "open-choice" and t == "string"):
            shown = v.get("code") if isinstance(v, dict) else v
            out.append(issue("error", "value", f"The {t} {shown} is not in the set of "
                             "permitted values (answerOption)", vwhere))
    vs_url = qi.get("answerValueSet")
    if isinstance(vs_url, str) and not options:
        _in_answer_valueset(t, v, vs_url, qi, vwhere, awhere, out, reg)
    if t == "string" and isinstance(v, str):
        for e in _ext(qi, "regex"):
            rx = e.get("valueString")
            if isinstance(rx, str):
                try:
                    if not re.fullmatch(rx, v):
                        out.append(issue("error", "value", f"The answer '{v}' does not conform "
                                         f"to the expected format (regex '{rx}')", vwhere))
                except re.error:
                    pass
    if t == "Attachment" and isinstance(v, dict):
        types = [e.get("valueCode") for e in _ext(qi, "mimeType")]
        if types and v.get("contentType") not in types:
            out.append(issue("error", "value", f"The mime type {v.get('contentType')} is not "
                             f"valid for this answer (allowed = {', '.join(map(str, types))})",
                             awhere))
    if t == "Quantity" and isinstance(v, dict):
        units = [e.get("valueCoding") for e in _ext(qi, "questionnaire-unitOption")
                 if isinstance(e.get("valueCoding"), dict)]
        if units and not any(u.get("code") == v.get("code") and
                             u.get("system") == v.get("system") for u in units):
            shown = ", ".join(f"{u.get('display') or u.get('code')} ({u.get('code')})"
                              for u in units)
            out.append(issue("error", "value", f"The value {_shown(v)} "
                             f"has a unit that is not valid (allowed = {shown})", vwhere))
        for name, sign in (("minValue", -1), ("maxValue", 1)):
            for e in _ext(qi, *LIMITS[name]):
                limit = e.get("valueQuantity")
                if not isinstance(limit, dict):
                    continue
                cmp, why = compare_quantities(v, limit)
                word = "minimum" if sign < 0 else "maximum"
                if cmp is None:
                    out.append(issue("error", "value", f"The quantity {_shown(v)} cannot be "
                                     f"compared to the allowed {word} of {_shown(limit)} "
                                     f"({why})", vwhere))
                elif cmp == sign:
                    out.append(issue("error", "value", f"The quantity {_shown(v)} is "
                                     f"{'less' if sign < 0 else 'greater'} than the allowed "
                                     f"{word} of {_shown(limit)}", vwhere))


def _in_answer_valueset(t: str, v, vs_url: str, qi: dict, vwhere: str, awhere: str,
                        out: list, reg):
    """answerValueSet: a Coding answer is a code of the value set; so is a string answer of
    a string item (an open-choice item takes any string). Codes of systems that cannot be
    enumerated offline are judged by their syntax where it is fixed, else accepted."""
    exp = reg.expansion(vs_url)
    if exp is None:
        return
    if t == "Coding" and isinstance(v, dict) and isinstance(v.get("code"), str):
        system = v.get("system") if isinstance(v.get("system"), str) else None
        inside = may_be_in(exp, system, v["code"])
        # as the reference: a wrong display fails the membership too
        wrong = [i for i in _display(system, v["code"], v["display"], vwhere)
                 if i.severity == "error"] if inside and system and \
            isinstance(v.get("display"), str) else []
        if inside is False or wrong:
            out.append(issue("error", "code-invalid", f"The code '{v['code']}' in the system "
                             f"'{system}' is not in the options value set ({vs_url}) specified "
                             "by the questionnaire" + (f". Terminology Error: {wrong[0].message}"
                                                       if wrong else ""), awhere, vs_url))
    elif t == "string" and isinstance(v, str) and qi.get("type") not in ("open-choice",):
        if may_be_in(exp, None, v) is False:
            out.append(issue("error", "code-invalid", f"The value '{v}' is not in the list of "
                             f"allowed values (value set '{vs_url}')", vwhere, vs_url))
