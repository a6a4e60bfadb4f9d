"""The R4 element model the XML format needs, read from the core StructureDefinitions.

For a place in a resource (a StructureDefinition and an element path in it) `Model.children`
gives the child elements in definition order, each with its JSON names (a choice element
`value[x]` has one per type: valueString, valueQuantity ...), its type per JSON name and
whether it is an array. The XML writer emits children in exactly this order (R4 XML rule:
elements in the order of the definitions); the reader uses it to name, type and group what it
reads. Only the core (base) definitions are used: the JSON/XML shape of a resource never
depends on a profile.

Two facts of the R4 XML representation are not in the compact definitions (the core
`ElementDefinition.representation` values): `Element.id` and `Extension.url` are attributes
(xmlAttr), and `xhtml` (Narrative.div) is XHTML markup. They are the `is_attribute` rule and
the `xhtml` type code below.
"""
from __future__ import annotations

import threading

CORE = "http://hl7.org/fhir/StructureDefinition/"
CONTAINER_TYPES = ("Resource", "DomainResource")
NESTED_TYPES = ("BackboneElement", "Element")


def is_primitive(code: str) -> bool:
    return code[:1].islower() and code != "xhtml"


def _cap(code: str) -> str:
    return code[:1].upper() + code[1:]


class Child:
    """One child element of a place: name (without [x]), JSON names -> type code, array."""

    __slots__ = ("name", "names", "is_array", "sd_url", "path", "content_ref")

    def __init__(self, name, names, is_array, sd_url, path, content_ref):
        self.name = name
        self.names = names            # JSON/XML name -> type code (in type order)
        self.is_array = is_array
        self.sd_url = sd_url
        self.path = path              # the element's path in sd_url
        self.content_ref = content_ref


class Model:
    """Children per (StructureDefinition, path), computed once per registry generation."""

    MEMO = "fhirsvc.xml.model"

    @classmethod
    def of(cls, state) -> "Model":
        return state.structure_memo(cls.MEMO, cls)

    def __init__(self, state):
        self.state = state
        self._by_sd: dict[str, dict[str, list[dict]]] = {}
        self._children: dict[tuple[str, str], tuple[list[Child], dict[str, Child]]] = {}
        self._lock = threading.Lock()

    def _paths(self, sd_url: str) -> dict[str, list[dict]]:
        """path -> its direct child elements, in snapshot order (slices left out)."""
        got = self._by_sd.get(sd_url)
        if got is None:
            elements = self.state.snapshot(sd_url) or []
            got = {}
            for el in elements:
                if el.get("sliceName") or ":" in el.get("id", ""):
                    continue
                parent, _, _ = el["path"].rpartition(".")
                if parent:
                    got.setdefault(parent, []).append(el)
            self._by_sd[sd_url] = got
        return got

    def type_place(self, code: str) -> tuple[str, str] | None:
        """The (StructureDefinition, path) of a resource or complex type; None if unknown."""
        sd = self.state.type_sd(code)
        if sd is None or sd.get("derivation") == "constraint":
            return None
        return self.state.type_url(code), code

    def children(self, sd_url: str, path: str) -> tuple[list[Child], dict[str, Child]]:
        key = (sd_url, path)
        got = self._children.get(key)
        if got is not None:
            return got
        ordered, by_name = [], {}
        for el in self._paths(sd_url).get(path, ()):
            name = el["path"].rsplit(".", 1)[1]
            types = [t["code"] for t in el.get("type") or ()]
            max_ = el.get("baseMax", el.get("max"))
            is_array = max_ not in ("0", "1")
            cref = el.get("contentReference")
            if name.endswith("[x]"):
                base = name[:-3]
                names = {base + _cap(t): t for t in types}
                name = base
            else:
                names = {name: types[0] if types else "Element"}
            child = Child(name, names, is_array, sd_url, el["path"],
                          cref[1:] if cref and cref.startswith("#") else None)
            ordered.append(child)
            for n in names:
                by_name[n] = child
        got = (ordered, by_name)
        with self._lock:
            self._children[key] = got
        return got

    def place_of(self, child: Child, code: str) -> tuple[str, str] | None:
        """Where the children of a value of `child` with type `code` are defined."""
        if child.content_ref:
            return child.sd_url, child.content_ref
        if code in NESTED_TYPES:
            return child.sd_url, child.path
        return self.type_place(code)


def is_attribute(name: str, at_resource_root: bool, type_name: str | None) -> bool:
    """Element.id and Extension.url are XML attributes (R4 xmlAttr); a resource's id is an
    element."""
    if name == "id":
        return not at_resource_root
    return name == "url" and type_name == "Extension"
