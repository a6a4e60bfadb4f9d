"""Compiled element rules: a snapshot becomes a tree of `Node`s, built once per canonical URL.

A Node is one ElementDefinition prepared for the walker: JSON property names of its children
(choices expanded: value[x] -> valueQuantity ...), cardinality, whether the JSON shape is an
array (from the base definition), fixed/pattern/min/max values, binding, compiled constraints,
slicing and slices. Children that a snapshot does not unfold come from the element's type
(or type profile) and are looked up lazily (definitions.Definitions.children). Nodes hold no
caches: a node is compared and hashed by identity, and what is derived from it lives in the
Definitions of its registry generation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .fhirpath import compile_constraint

FHIRPATH_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}


def _cap(code: str) -> str:
    return code[:1].upper() + code[1:]


@dataclass
class TypeRef:
    code: str
    profiles: tuple = ()
    targets: tuple = ()


@dataclass(eq=False)
class Node:
    eid: str
    path: str
    name: str  # last path segment, without [x]
    min: int = 0
    max: int | None = None  # None = unbounded
    is_array: bool = False
    choice: bool = False
    types: list = field(default_factory=list)
    fixed: tuple | None = None  # (type suffix, value)
    pattern: tuple | None = None
    min_value: tuple | None = None
    max_value: tuple | None = None
    max_length: int | None = None
    binding: tuple | None = None  # (strength, valueSet)
    additional_bindings: tuple = ()  # ({purpose, valueSet, ...}, ...) (compact.additional_bindings)
    constraints: list = field(default_factory=list)
    slicing: dict | None = None
    slices: list = field(default_factory=list)
    slice_name: str | None = None
    content_ref: str | None = None
    explicit: dict = field(default_factory=dict)  # json name -> (Node, type code|None)
    has_explicit: bool = False
    sd_url: str = ""
    model: "CompiledSD | None" = None

    @property
    def type_codes(self) -> list[str]:
        return [t.code for t in self.types]

    def source(self) -> str:
        return f"{self.sd_url}#{self.eid}"


def _max(v) -> int | None:
    if v is None or v == "*":
        return None
    try:
        return int(v)
    except ValueError:
        return None


def _value_key(el: dict, prefix: str):
    for k, v in el.items():
        if k.startswith(prefix) and len(k) > len(prefix) and k[len(prefix)].isupper():
            return (k[len(prefix):], v)
    return None


class CompiledSD:
    """The Node tree of one StructureDefinition snapshot."""

    def __init__(self, url: str, sd: dict, elements: list[dict]):
        self.url = url
        self.sd = sd
        self.type = sd.get("type")
        self.by_id: dict[str, Node] = {}
        root = None
        for el in elements:
            node = self._node(el)
            eid = node.eid
            self.by_id[eid] = node
            if root is None:
                root = node
                continue
            parent_id, _, last = eid.rpartition(".")
            name, _, slice_name = last.partition(":")
            if slice_name:
                # slice (or re-slice a:s/r) of the element with the same id minus the name
                if "/" in slice_name:
                    base_id = f"{parent_id}.{name}:{slice_name.rsplit('/', 1)[0]}"
                else:
                    base_id = f"{parent_id}.{name}"
                base = self.by_id.get(base_id)
                if base is not None:
                    base.slices.append(node)
                continue
            parent = self.by_id.get(parent_id)
            if parent is None:
                continue
            parent.has_explicit = True
            if node.choice:
                for t in node.types:
                    parent.explicit[node.name + _cap(t.code)] = (node, t.code)
            else:
                parent.explicit[node.name] = (node, None)
        self.root = root
        # slices of a choice named after the type (value[x]:valueQuantity) replace it
        for node in list(self.by_id.values()):
            if node.choice and node.slices:
                parent_id = node.eid.rpartition(".")[0]
                parent = self.by_id.get(parent_id)
                for s in node.slices:
                    if parent is not None and s.slice_name in parent.explicit:
                        t = parent.explicit[s.slice_name][1]
                        parent.explicit[s.slice_name] = (s, t)

    def _node(self, el: dict) -> Node:
        path = el["path"]
        last = path.rsplit(".", 1)[-1]
        choice = last.endswith("[x]")
        types = []
        for t in el.get("type") or ():
            code = FHIRPATH_TYPES.get(t.get("code"), t.get("code"))
            types.append(TypeRef(code, tuple(t.get("profile") or ()), tuple(t.get("targetProfile") or ())))
        base_max = el.get("baseMax", el.get("max"))
        node = Node(
            eid=el.get("id") or path, path=path, name=last[:-3] if choice else last,
            min=el.get("min", 0) or 0, max=_max(el.get("max")),
            is_array=base_max not in ("1", "0"), choice=choice, types=types,
            fixed=_value_key(el, "fixed"), pattern=_value_key(el, "pattern"),
            min_value=_value_key(el, "minValue"), max_value=_value_key(el, "maxValue"),
            max_length=el.get("maxLength"),
            binding=(el["binding"].get("strength"), el["binding"].get("valueSet"))
            if el.get("binding") and el["binding"].get("valueSet") else None,
            slicing=el.get("slicing"), slice_name=el.get("sliceName"),
            content_ref=el.get("contentReference"), sd_url=self.url, model=self,
        )
        if el.get("binding") and el["binding"].get("additional"):
            node.additional_bindings = tuple(el["binding"]["additional"])
        node.constraints = [c for c in (compile_constraint(c, path, self.url) for c in
                                         el.get("constraint") or ()) if c is not None]
        return node
