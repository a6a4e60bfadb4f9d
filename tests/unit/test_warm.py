"""The warm-up before the fork (fhirsvc/warm.py): after it, a write meets no definition left to
compile, the verdicts are those of a cold validator, and `serve` runs it before gunicorn forks
its workers (and before gc.freeze), unless FHIRSVC_WARM=false."""
from __future__ import annotations

import gc
import socket
import sys
from pathlib import Path

import pytest

from fhirsvc.bootstrap import build
from fhirsvc.config import Config
from fhirsvc.resource_types import RESOURCE_TYPES
from fhirsvc.validation import Validator
from fhirsvc.validation.definitions import Definitions
from fhirsvc.warm import warm, warm_validator
from fhirsvc.wire import decode_json

SYNTHEA = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "synthea"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _bundles(n=None):
    files = sorted(SYNTHEA.glob("*.json"))[:n]
    assert files, f"no Synthea bundles under {SYNTHEA}"
    return [decode_json(f.read_bytes()) for f in files]


def _examples():
    out = []
    for f in sorted(EXAMPLES.rglob("*.json")):
        try:
            doc = decode_json(f.read_bytes())
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("resourceType"):
            out.append(doc)
    assert out
    return out


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from fhirsvc.storage.migrate import upgrade
    url = f"sqlite:///{tmp_path_factory.mktemp('warm') / 'w.db'}"
    upgrade(url)
    rt = build(Config(database_url=url, examples_dir=tmp_path_factory.mktemp("none")))
    yield rt
    rt.close()


def _compiled(registry) -> int:
    return sum(1 for c in Definitions.of(registry.state)._compiled.values() if c is not None)


def test_a_cold_validator_compiles_on_first_use():
    # the premise of the warm-up (and what makes the next test able to fail)
    from fhirsvc.definitions.registry import Registry
    registry = Registry()
    v = Validator(registry=registry, unknown_extensions="warning")
    before = _compiled(registry)
    v.validate(_bundles(1)[0])
    assert _compiled(registry) > before


def test_after_warm_a_write_compiles_nothing(runtime):
    done = warm(runtime)
    state = runtime.definitions.state
    assert done["structure_definitions"] == len(state.sds)
    assert "fhirpathpy.models" in sys.modules
    assert set(runtime.search_registry._compiled) >= set(RESOURCE_TYPES)
    compiled = {u: c for u, c in Definitions.of(state)._compiled.items() if c is not None}
    for bundle in _bundles():
        runtime.validator.validate(bundle)
    for doc in _examples():
        runtime.validator.validate(doc)
    assert runtime.definitions.state is state   # the same generation: nothing was added
    # (unknown urls, e.g. US Core extensions, are remembered as None: no compilation)
    assert {u: c for u, c in Definitions.of(state)._compiled.items() if c is not None} \
        == compiled


def test_warm_changes_no_verdict():
    from fhirsvc.definitions.registry import Registry
    docs = _bundles() + _examples()
    cold_reg, warm_reg = Registry(), Registry()
    for reg in (cold_reg, warm_reg):
        reg.load_guide(Config().profiles_dir)
    warm_validator(warm_reg)
    cold = Validator(registry=cold_reg, unknown_extensions="warning")
    warmed = Validator(registry=warm_reg, unknown_extensions="warning")
    for doc in docs:
        assert cold.validate(doc) == warmed.validate(doc)


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("setting", ["true", "false"])
def test_serve_warms_before_the_workers_fork(setting, tmp_path, monkeypatch):
    """gunicorn forks in BaseApplication.run: by then the runtime is warm and frozen."""
    from gunicorn.app.base import BaseApplication

    import fhirsvc.warm as warm_module
    from fhirsvc import cli
    seen = {}
    real_warm = warm_module.warm

    def recording_warm(rt):
        seen["runtime"] = rt
        return real_warm(rt)

    def fake_run(self):
        seen["frozen"] = gc.get_freeze_count()
        rt = seen.get("runtime")
        if rt is not None:
            state = rt.definitions.state
            seen["compiled"] = sum(1 for u in state.sds
                                   if Definitions.of(state)._compiled.get(u))
            seen["sds"] = len(state.sds)
        raise SystemExit(0)

    monkeypatch.setattr(warm_module, "warm", recording_warm)
    monkeypatch.setattr(BaseApplication, "run", fake_run)
    monkeypatch.setenv("FHIRSVC_DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("FHIRSVC_PORT", str(_free_port()))
    monkeypatch.setenv("FHIRSVC_MLLP_PORT", "0")
    monkeypatch.setenv("FHIRSVC_WORKER", "off")
    monkeypatch.setenv("FHIRSVC_WARM", setting)
    try:
        with pytest.raises(SystemExit):
            cli.main(["serve", "--no-examples"])
    finally:
        gc.unfreeze()
    assert seen["frozen"] > 0
    if setting == "true":
        assert seen["compiled"] == seen["sds"]
    else:
        assert "runtime" not in seen
