"""Every operation the CapabilityStatement lists resolves to an OperationDefinition, and its
parameters are the ones the handler reads.

- fhirsvc's own operations (canonical under http://fhirsvc.org/fhir/): the guide's
  OperationDefinitions, served at OperationDefinition/[id]; their `in` parameters are exactly
  what the view reads (query or Parameters names), a Binary `in` parameter is the body.
- Bulk Data $export: the Bulk Data IG's OperationDefinitions (the FSH of ../shared/reference/
  bulk-data/, read here at run time); their parameters are the ones the kick-off parser knows.
- R4 core operations ($everything, $lastn, $validate): the R4 core package (.cache, made by
  scripts/fetch_r4core.py); whatever the view reads is among their parameters.
"""
from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
from pathlib import Path

import pytest

from fhirsvc.api import ROUTES
from fhirsvc.bulk.request import PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
BULK_FSH = ROOT.parent / "shared" / "reference" / "bulk-data"
CORE = ROOT / ".cache" / "hl7.fhir.r4.core" / "package"
OWN = "http://fhirsvc.org/fhir/"
BULK = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
R4 = "http://hl7.org/fhir/OperationDefinition/"
BODY = {"request.get_data", "request_json", "hl7v2_body"}


def _listed(statement: dict) -> list[tuple[str, str, str | None]]:
    """(name, canonical, resource type or None for system) of every listed operation."""
    rest = statement["rest"][0]
    out = [(o["name"], o["definition"], None) for o in rest.get("operation", [])]
    for r in rest["resource"]:
        out += [(o["name"], o["definition"], r["type"]) for o in r.get("operation", [])]
    return out


def _reads(fn, seen=None) -> tuple[set[str], bool]:
    """The parameter names a view reads (request.args / its Parameters dict) and whether it
    reads the body, from its source and the module functions it calls."""
    seen = seen if seen is not None else set()
    if fn in seen:
        return set(), False
    seen.add(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names, body = set(), False
    module = inspect.getmodule(fn)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            text = ast.unparse(node.func)
            if text in ("request.args.get", "args.get") and node.args and \
                    isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
            if text in BODY:
                body = True
            callee = getattr(module, text, None) if isinstance(node.func, ast.Name) else None
            if inspect.isfunction(callee) and inspect.getmodule(callee) is module:
                more, b = _reads(callee, seen)
                names |= more
                body = body or b
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "args" and \
                isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = node.left, node.comparators[0]
            if isinstance(node.ops[0], (ast.In, ast.NotIn)):
                if isinstance(left, ast.Constant) and ast.unparse(right) == "args":
                    names.add(left.value)
                if ast.unparse(left) == "name" and isinstance(right, ast.Tuple):
                    names |= {e.value for e in right.elts if isinstance(e, ast.Constant)}
    return names, body


def _fsh_parameters(path: Path) -> tuple[str, dict[str, str]]:
    """url and {name: use} of an OperationDefinition written in FSH (flat `parameter[i].x`
    rules or indented `  * x` rules under `* parameter[i]`)."""
    text = path.read_text(encoding="utf-8")
    url = re.search(r'^\* url = "([^"]+)"', text, re.M).group(1)
    params, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^(?:\* parameter\[[^\]]*\]\.|\s+\* )name = #?\"?([\w\-]+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"^(?:\* parameter\[[^\]]*\]\.|\s+\* )use = #(\w+)", line)
        if m and name:
            params[name] = m.group(1)
    return url, params


def _views() -> dict[tuple[str, str | None], list]:
    """(operation name, canonical) -> the views routed for it (GET and POST alike)."""
    by_rule = {}
    for r in ROUTES:
        by_rule.setdefault(r.rule, []).append(r.view)
    out = {}
    for r in ROUTES:
        if r.operation:
            out.setdefault((r.operation[0], r.operation[2]), []).extend(by_rule[r.rule])
    return out


def test_every_listed_operation_resolves_to_a_matching_definition(client):
    statement = client.get("/fhir/metadata").get_json()
    listed = _listed(statement)
    views = _views()
    assert {(n, d) for n, d, _ in listed} == set(views)
    bulk = {}
    if BULK_FSH.is_dir():
        bulk = dict(_fsh_parameters(p) for p in BULK_FSH.glob("*.fsh"))
    checked = set()
    for name, canonical, rtype in listed:
        reads, body = set(), False
        for view in views[(name, canonical)]:
            more, b = _reads(view)
            reads |= more
            body = body or b
        if canonical.startswith(OWN):
            r = client.get(f"/fhir/OperationDefinition/{canonical.rsplit('/', 1)[-1]}")
            assert r.status_code == 200, (name, canonical)
            od = r.get_json()
            assert od["url"] == canonical and od["code"] == name and od["status"] == "active"
            if rtype is None:
                assert od["system"] is True, name
            else:
                assert rtype in od["resource"] and (od["type"] or od["instance"]), name
            ins = {p["name"]: p for p in od["parameter"] if p["use"] == "in"}
            assert {p for p in ins if ins[p]["type"] != "Binary"} == reads, (name, reads)
            assert any(p["type"] == "Binary" for p in ins.values()) == (
                body and not reads), name
            assert any(p["use"] == "out" for p in od["parameter"]), name
        elif canonical.startswith(BULK):
            if not bulk:
                pytest.skip("the Bulk Data IG's definitions (../shared) are not here")
            assert canonical in bulk, canonical
            ins = {p for p, use in bulk[canonical].items() if use == "in"}
            # the kick-off parser knows exactly the definition's parameters, at its level
            level = "system" if rtype is None else "patient" if rtype == "Patient" else "group"
            assert ins == PARAMETERS[level], (canonical, ins ^ PARAMETERS[level])
        else:
            assert canonical.startswith(R4), canonical
            path = CORE / f"OperationDefinition-{canonical[len(R4):]}.json"
            if not path.is_file():
                continue  # the R4 core package is fetched by `make definitions` only
            od = json.loads(path.read_text(encoding="utf-8"))
            assert od["url"] == canonical and od["code"] == name
            ins = {p["name"] for p in od["parameter"] if p["use"] == "in"}
            assert reads <= ins, (name, reads - ins)
        checked.add(canonical)
    # at least the operations fhirsvc defines itself, each one
    own = {d for _, d, _ in listed if d.startswith(OWN)}
    assert own <= checked and len(own) >= 7


def test_guide_operation_definitions_are_read_like_resources(client):
    r = client.get("/fhir/OperationDefinition/registry-export")
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"1"'
    od = r.get_json()
    assert od["meta"]["versionId"] == "1" and od["system"] is True
    assert client.get("/fhir/OperationDefinition/no-such-operation").status_code == 404
