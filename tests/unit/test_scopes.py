"""SMART scope grammar: v2 letters, v1 forms, query constraints, coverage."""
import pytest

from fhirsvc.config import Config
from fhirsvc.security.modes import check_mode
from fhirsvc.security.scopes import Grants, parse_scope


def test_v2_and_v1_forms():
    s = parse_scope("patient/Observation.rs?category=laboratory")
    assert (s.context, s.rtype, s.perms, s.query) == ("patient", "Observation", "rs",
                                                      (("category", "laboratory"),))
    assert parse_scope("user/*.read").perms == "rs"
    assert parse_scope("system/Patient.write").perms == "cud"
    assert parse_scope("system/*.*").perms == "cruds"
    assert parse_scope("openid") is None and parse_scope("launch/patient") is None


@pytest.mark.parametrize("bad", ["patient/Observation.sr", "system/Patient.xyz",
                                 "user/Patient.", "system/Patient.read?code=1"])
def test_malformed_scopes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_scope(bad)


def test_grants_and_coverage():
    g = Grants.of("system/Patient.rs user/*.c openid")
    assert [s.text for s in g.allowing("Patient", "r")] == ["system/Patient.rs"]
    assert [s.text for s in g.allowing("Condition", "c")] == ["user/*.c"]
    assert g.allowing("Condition", "r") == [] and "openid" in g.others
    assert parse_scope("system/*.cruds").covers(parse_scope("system/Patient.rs"))
    assert not parse_scope("system/Patient.r").covers(parse_scope("system/Patient.rs"))
    assert not parse_scope("user/*.cruds").covers(parse_scope("system/Patient.rs"))


def test_auth_off_only_on_loopback():
    check_mode(Config(host="127.0.0.1"))
    check_mode(Config(host="::1"))
    with pytest.raises(ValueError, match="FHIRSVC_AUTH_FORCE_OFF"):
        check_mode(Config(host="0.0.0.0"))
    check_mode(Config(host="0.0.0.0", auth_force_off=True))
    check_mode(Config(host="0.0.0.0", auth="smart"))
    with pytest.raises(ValueError):
        check_mode(Config(auth="basic"))
