"""Remote resources -> local ones: ids from the remote URL, references, meta.source, codes."""
from __future__ import annotations

from fhirsvc.remote import Translator, local_id, local_reference, localise, remote_url
from fhirsvc.remote.transform import same_content

BASE = "https://hospital.example/fhir"


def test_references_to_the_remote_become_local_and_others_stay():
    pid = local_id(f"{BASE}/Patient/p1")
    assert local_reference(BASE, "Patient/p1") == f"Patient/{pid}"
    assert local_reference(BASE, f"{BASE}/Patient/p1") == f"Patient/{pid}"
    assert local_reference(BASE, f"{BASE}/Patient/p1/_history/3") == f"Patient/{pid}"
    for other in ("https://other.example/fhir/Patient/p1", "#contained", "urn:uuid:1234",
                  "Patient?identifier=x|1", "NotAType/p1", "Patient/p1/extra",
                  f"{BASE}x/Patient/p1"):
        assert local_reference(BASE, other) is None, other


def test_localise_sets_id_and_source_and_leaves_the_input_alone():
    remote = {"resourceType": "Observation", "id": "o1",
              "meta": {"versionId": "7", "lastUpdated": "2024-01-01T00:00:00Z",
                       "profile": ["http://x/p"]},
              "subject": {"reference": "Patient/p1"},
              "contained": [{"resourceType": "Specimen", "id": "s",
                             "subject": {"reference": "Patient/p1"}}],
              "code": {"coding": [{"system": "urn:lab", "code": "GLU"}]}}
    done = localise(remote, BASE, None)
    assert done.resource["id"] == local_id(remote_url(BASE, "Observation", "o1"))
    assert done.resource["meta"] == {"profile": ["http://x/p"],
                                     "source": f"{BASE}/Observation/o1"}
    pid = local_id(f"{BASE}/Patient/p1")
    assert done.resource["subject"]["reference"] == f"Patient/{pid}"
    assert done.resource["contained"][0]["subject"]["reference"] == f"Patient/{pid}"
    assert remote["subject"]["reference"] == "Patient/p1" and remote["id"] == "o1"
    again = localise(remote, BASE, None).resource
    assert same_content({**again, "meta": {**again["meta"], "versionId": "2"}}, done.resource)


def test_concept_map_translations_are_added_and_unknown_codes_reported():
    t = Translator.from_concept_maps([{"resourceType": "ConceptMap", "group": [{
        "source": "urn:lab", "target": "http://loinc.org", "element": [
            {"code": "GLU", "target": [{"code": "2345-7", "equivalence": "equivalent"}]},
            {"code": "OLD", "target": [{"code": "x", "equivalence": "disjoint"}]}]}]}])
    res = {"resourceType": "Observation", "id": "o", "code": {"coding": [
        {"system": "urn:lab", "code": "GLU"}]},
        "component": [{"code": {"coding": [{"system": "urn:lab", "code": "OLD"},
                                           {"system": "urn:other", "code": "Z"}]}}]}
    done = localise(res, BASE, t)
    assert done.resource["code"]["coding"] == [{"system": "urn:lab", "code": "GLU"},
                                               {"system": "http://loinc.org",
                                                "code": "2345-7"}]
    assert done.unknown_codes == ["urn:lab|OLD"]  # disjoint is not a translation
    assert len(done.resource["component"][0]["code"]["coding"]) == 2
