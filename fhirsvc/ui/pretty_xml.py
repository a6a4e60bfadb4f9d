"""FHIR XML pretty-printed with every line knowing its FHIRPath location (the validator's
JSON-name paths, `Bundle.entry[0].resource.name[0].given[1]`), the XML counterpart of
pretty.py: the validate page marks an XML input's issues at the lines of the elements they
are about.

The input is parsed by the API's hardened reader (fhirsvc.xml.reader: no DTD, no entities),
re-indented and printed again; the element tree is walked beside the resource's JSON form
(what the validator saw) so that a repeating element gets its index (`given[1]`) and a
single one none, exactly as in the expressions.
"""
from __future__ import annotations

from lxml import etree

from ..xml.reader import FHIR_NS, XHTML_NS, parse_document
from .pretty import Line, Printed


def _local(el) -> tuple[str | None, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


def _reindented(text: str) -> tuple[str, etree._Element]:
    """The document re-indented (two spaces), and its root re-read with line numbers. The
    second parse reads our own serialisation (no DOCTYPE can be in it)."""
    root = parse_document(text)
    for el in root.iter():
        if el.text is not None and not el.text.strip() and len(el):
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    etree.indent(root, space="  ")
    printed = etree.tostring(root, encoding="unicode")
    again = etree.fromstring(printed.encode("utf-8"), etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False))
    return printed, again


def _end(el) -> int:
    """The line (1-based) of an element's last character."""
    children = [c for c in el]
    if not children:
        return el.sourceline + (el.text or "").count("\n")
    last = children[-1]
    return _end(last) + (last.tail or "").count("\n")


def pretty_xml(text: str, resource: dict) -> Printed:
    """`text` (FHIR XML, already read into `resource`, its JSON form) printed with paths.
    XmlFormatError (fhirsvc.xml) when it is not well-formed XML."""
    printed, root = _reindented(text)
    texts = printed.splitlines() or [""]
    paths: list[str | None] = [None] * len(texts)
    spans: dict[str, tuple[int, int]] = {}

    def mark(el, path: str) -> tuple[int, int]:
        first, last = el.sourceline - 1, _end(el) - 1
        for i in (first, last):
            if 0 <= i < len(paths) and paths[i] is None:
                paths[i] = path
        for i in range(first + 1, last):   # lines inside without an element of their own
            if 0 <= i < len(paths) and paths[i] is None:
                paths[i] = path
        return first, last

    def add(path: str, span: tuple[int, int]) -> None:
        old = spans.get(path)
        spans[path] = span if old is None else (min(old[0], span[0]), max(old[1], span[1]))

    def walk(el, path: str, node) -> None:
        """`el` is the element at `path`; `node` its JSON (a dict for a complex value or a
        resource, a primitive's `_name` part, or None)."""
        node = node if isinstance(node, dict) else {}
        seen: dict[str, int] = {}
        for child in el:
            if not isinstance(child.tag, str):
                continue                      # comments, processing instructions
            ns, name = _local(child)
            if name == "div" and ns == XHTML_NS:
                span = (child.sourceline - 1, _end(child) - 1)
                add(f"{path}.div", span)
                for i in range(span[0], span[1] + 1):
                    if 0 <= i < len(paths):
                        paths[i] = f"{path}.div"
                continue
            if ns != FHIR_NS:
                continue
            value, ext = node.get(name), node.get(f"_{name}")
            repeats = isinstance(value, list) or isinstance(ext, list)
            n = seen.get(name, 0)
            seen[name] = n + 1
            cpath = f"{path}.{name}[{n}]" if repeats else f"{path}.{name}"
            item = (value[n] if isinstance(value, list) and n < len(value) else
                    None if repeats else value)
            part = (ext[n] if isinstance(ext, list) and n < len(ext) else
                    None if repeats else ext)
            # children are placed first: an element's lines belong to the innermost element
            inner = [c for c in child if isinstance(c.tag, str)]
            if (isinstance(item, dict) and "resourceType" in item and len(inner) == 1
                    and _local(inner[0]) == (FHIR_NS, item["resourceType"])):
                walk(inner[0], cpath, item)          # <resource><Patient>...</Patient>
                inner_span = mark(inner[0], cpath)
                add(cpath, inner_span)
            elif isinstance(item, dict):
                walk(child, cpath, item)
            else:
                walk(child, cpath, part)             # a primitive: its id and extensions
                if part is not None:
                    add(f"{path}._{name}" + (f"[{n}]" if repeats else ""),
                        (child.sourceline - 1, _end(child) - 1))
            span = mark(child, cpath)
            add(cpath, span)
            if repeats:
                add(f"{path}.{name}", span)

    rtype = resource.get("resourceType") or _local(root)[1]
    walk(root, rtype, resource)
    spans[rtype] = mark(root, rtype)
    lines = [Line(i + 1, t, paths[i] or rtype) for i, t in enumerate(texts)]
    return Printed(lines, spans)
