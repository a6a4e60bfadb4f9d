"""Pure parts of the issue-16 search features: words, text queries, uri :above, _filter trees."""
from __future__ import annotations

import pytest

from fhirsvc.outcomes import OperationOutcomeError
from fhirsvc.search import SearchRegistry
from fhirsvc.search import criteria as c
from fhirsvc.search.parse import SearchParser, uri_above
from fhirsvc.search.text import content_words, narrative_words, text_query
from fhirsvc.storage.fulltext import fts5_query, tsquery


@pytest.fixture(scope="module")
def parser():
    return SearchParser(SearchRegistry.load())


def test_words_are_folded_and_split_like_both_tokenizers():
    res = {"resourceType": "Patient", "id": "abc", "name": [{"family": "Müller_Smith"}],
           "identifier": [{"system": "urn:x", "value": "Z-9"}],
           "text": {"div": "<div>Calcinosis &amp; <b>Raynaud's</b></div>"}}
    assert narrative_words(res) == "calcinosis raynaud s"
    words = content_words(res).split()
    assert {"muller", "smith", "z", "9", "calcinosis"} <= set(words)
    assert "urn" not in words and "abc" not in words and "patient" not in words


def test_text_query_groups_phrases_and_or():
    q = text_query("_text", 'left "Hand X-ray" OR ulcer AND pain')
    assert q.groups == ((("left",), ("hand", "x", "ray")), (("ulcer",), ("pain",)))
    assert fts5_query("narrative", q) == \
        'narrative : (("left" AND "hand x ray") OR ("ulcer" AND "pain"))'
    assert tsquery(q) == "(('left') & ('hand' <-> 'x' <-> 'ray')) | (('ulcer') & ('pain'))"
    with pytest.raises(OperationOutcomeError):
        text_query("_text", '"" OR')


def test_uri_above_lists_the_url_and_its_parents():
    got = uri_above("http://a.org/fhir/ValueSet/x").values
    assert got[0] == "http://a.org/fhir/ValueSet/x"
    assert {"http://a.org/fhir/ValueSet", "http://a.org/fhir/", "http://a.org"} <= set(got)


def test_filter_becomes_clauses(parser):
    q = parser.parse("Patient", [("_filter", "family sw du and (gender eq male or "
                                             "not (birthdate lt 1970))")],
                     base_url="http://x", strict=True)
    first, second = q.criteria.clauses       # a top-level `and` is two clauses
    assert isinstance(first, c.ParamClause) and first.values == (c.StringMatch("prefix", "du"),)
    assert isinstance(second, c.AnyClause)
    assert isinstance(second.clauses[1], c.NotClause)
    assert second.clauses[1].clause.values[0].prefix == "lt"


def test_chain_and_has_depth_limits(parser):
    with pytest.raises(OperationOutcomeError, match="more than 4"):
        parser.parse("Observation", [("subject.organization.partof.partof.partof.name", "x")],
                     base_url="http://x", strict=True)
    ok = "_has:Observation:subject:" * 4 + "status"
    assert parser.parse("Patient", [(ok, "final")], base_url="http://x", strict=True)
    with pytest.raises(OperationOutcomeError, match="more than 4"):
        parser.parse("Patient", [("_has:Observation:subject:" + ok, "final")],
                     base_url="http://x", strict=True)


def test_in_without_terminology_is_a_clear_400(parser):
    with pytest.raises(OperationOutcomeError, match="not known"):
        parser.parse("Observation", [("code:in", "http://x/vs")], base_url="http://x",
                     strict=True)
