"""A second, real fhirsvc server process (the remote), loaded once per test process with a
subset of the Synthea bundles (the organisations, the practitioners and the two smallest
patients: the suite stays fast)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tools.server_process import Server

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "synthea"
SUBSET = ("hospitalInformation", "practitionerInformation", "Clemente_Kreiger",
          "Liz_Conn")


def subset_files() -> list[Path]:
    if not SYNTHEA.is_dir():
        pytest.fail(f"Synthea bundles not found at {SYNTHEA} (../shared/conformance/synthea)")
    files = sorted(SYNTHEA.glob("*.json"))
    return [p for prefix in SUBSET for p in files if p.name.startswith(prefix)]


@pytest.fixture(scope="session")
def remote_fhir(tmp_path_factory):
    """(base URL, {type: count}) of a running fhirsvc holding the Synthea subset."""
    work = tmp_path_factory.mktemp("remote-fhir")
    srv = Server(f"sqlite:///{work / 'remote.db'}", work, workers=2,
                 env={"FHIRSVC_WORKER": "off"}).start()
    try:
        for path in subset_files():
            resp = requests.post(srv.base, data=path.read_bytes(), timeout=120,
                                 headers={"Content-Type": "application/fhir+json"})
            assert resp.status_code == 200, (path.name, resp.text[:500])
        yield srv.base
    finally:
        srv.stop()


def remote_counts(base: str, types) -> dict[str, int]:
    return {t: requests.get(f"{base}/{t}", params={"_summary": "count"}, timeout=30
                            ).json()["total"] for t in types}
