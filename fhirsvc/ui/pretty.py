"""Pretty-printed JSON whose every line knows its FHIRPath location, so an issue's expression
(`Bundle.entry[0].resource.valueQuantity.value`, the validator's JSON-name paths) finds the
lines it is about. json.dumps cannot report where it put a value, hence this small printer."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass
class Line:
    number: int
    text: str              # indentation included
    path: str              # the location of the value that starts on this line
    issues: list = field(default_factory=list)   # indexes into the issue list
    placeholder: bool = False   # not in the input: where a missing required element would go


@dataclass
class Printed:
    lines: list[Line]
    spans: dict[str, tuple[int, int]]   # path -> (first, last) line index

    def locate(self, expression: str) -> tuple[int, int] | None:
        """The lines of the most specific printed value an expression names: the value
        itself, else its nearest printed ancestor (a missing element is reported on its
        parent)."""
        path = normalise(expression)
        while path:
            if path in self.spans:
                return self.spans[path]
            path = parent(path)
        return None


_FUNCTION = re.compile(r"\.(ofType|where|resolve|extension|as)\(.*$")


def normalise(expression: str) -> str:
    """`Observation.value.ofType(Quantity)` style suffixes are cut (we print JSON names)."""
    return _FUNCTION.sub("", expression.strip())


def parent(path: str) -> str:
    if path.endswith("]"):
        return path[:path.rindex("[")]
    return path.rpartition(".")[0]


def pretty(value, root: str) -> Printed:
    lines: list[Line] = []
    spans: dict[str, tuple[int, int]] = {}

    def emit(text: str, path: str) -> int:
        lines.append(Line(len(lines) + 1, text, path))
        return len(lines) - 1

    def walk(v, path: str, indent: str, prefix: str, suffix: str) -> None:
        first = len(lines)
        if isinstance(v, dict) and v:
            emit(f"{indent}{prefix}{{", path)
            items = list(v.items())
            for i, (k, child) in enumerate(items):
                comma = "," if i < len(items) - 1 else ""
                walk(child, f"{path}.{k}", indent + "  ", f"{json.dumps(k)}: ", comma)
            emit(f"{indent}}}{suffix}", path)
        elif isinstance(v, list) and v:
            emit(f"{indent}{prefix}[", path)
            for i, child in enumerate(v):
                comma = "," if i < len(v) - 1 else ""
                walk(child, f"{path}[{i}]", indent + "  ", "", comma)
            emit(f"{indent}]{suffix}", path)
        else:
            emit(f"{indent}{prefix}{json.dumps(v, ensure_ascii=False)}{suffix}", path)
        spans[path] = (first, len(lines) - 1)

    walk(value, root, "", "", "")
    _alias_primitive_parts(value, root, spans)
    return Printed(lines, spans)


def _alias_primitive_parts(value, root: str, spans: dict) -> None:
    """A primitive's extension part `_given` is located as `given` by some rules: give
    each `_name` whose `name` was not printed the span of the `_name`."""
    def walk(v, path):
        if isinstance(v, dict):
            for k, child in v.items():
                if k.startswith("_") and f"{path}.{k[1:]}" not in spans:
                    spans[f"{path}.{k[1:]}"] = spans[f"{path}.{k}"]
                walk(child, f"{path}.{k}")
        elif isinstance(v, list):
            for i, child in enumerate(v):
                walk(child, f"{path}[{i}]")
    walk(value, root)
