import pytest

from fhirsvc.config import Config
from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.summary import check_summary, select_elements, summarise

OBS = {"resourceType": "Observation", "id": "1", "status": "final", "code": {"text": "x"},
       "valueQuantity": {"value": 1}, "note": [{"text": "n"}],
       "text": {"status": "generated", "div": "<div/>"}}


def test_summary_true_keeps_summary_elements_and_choice_types():
    out = summarise(dict(OBS), "true")
    assert "valueQuantity" in out and "note" not in out and "text" not in out
    assert out["meta"]["tag"][0]["code"] == "SUBSETTED"


def test_elements_keeps_mandatory():
    out = select_elements(dict(OBS), "note")
    assert set(out) == {"resourceType", "id", "meta", "status", "code", "note"}


def test_bad_summary_value():
    with pytest.raises(OperationOutcomeError):
        check_summary("maybe")


def test_config_from_env():
    cfg = Config.from_env({"FHIRSVC_PORT": "9001", "FHIRSVC_REQUIRE_GUIDE_PROFILES": "true",
                           "FHIRSVC_DATABASE_URL": "postgresql://u@h:1/d"})
    assert cfg.port == 9001 and cfg.require_guide_profiles
    assert cfg.database_url == "postgresql://u@h:1/d"
    assert Config.from_env({}, port=1234).port == 1234
