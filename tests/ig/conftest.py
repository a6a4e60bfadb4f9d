"""Fixtures for the implementation-guide tests: they read committed files only (no Node)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
RESOURCES = PROFILES / "fsh-generated" / "resources"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT / "scripts"))
VALID = ("case-a", "case-b", "cohort")


@pytest.fixture(scope="session")
def guide() -> dict:
    return json.loads((PROFILES / "guide.json").read_text())


@pytest.fixture(scope="session")
def compiled() -> dict[str, dict]:
    """Compiled guide resources by canonical URL."""
    out = {}
    for p in sorted(RESOURCES.glob("*.json")):
        r = json.loads(p.read_text())
        out[r.get("url", p.name)] = r
    return out


@pytest.fixture(scope="session")
def bundles() -> dict[str, dict]:
    return {name: json.loads((EXAMPLES / f"{name}.json").read_text()) for name in VALID}
