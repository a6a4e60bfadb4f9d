"""Service-level tests: the use cases called directly with a RequestContext, on real
databases (SQLite and PostgreSQL), no HTTP in between."""
import pytest

from fhirsvc.bootstrap import build
from fhirsvc.context import RequestContext


@pytest.fixture(scope="module")
def rt(config):
    runtime = build(config)
    yield runtime
    runtime.close()


@pytest.fixture()
def ctx():
    return RequestContext(base_url="http://test/fhir/", door="test")


@pytest.fixture()
def services(rt):
    return rt.services
