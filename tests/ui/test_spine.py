"""Spine map builder: lesions from the guide's resources (tracked BodyStructures, untracked
condition and finding body sites), their levels, compartments and sides, and the geometry."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fhirsvc.ui import spine
from fhirsvc.ui.spine import (BODY_H, CANAL_HALF, CENTER, CIG, EXT_COMPARTMENT, EXT_LATERALITY,
                              EXT_LESION, EXT_LEVEL, EXT_RANGE, FACET_LANE, LEVEL_NAMES, PITCH,
                              SCT, TOP, lesions, level_ranges, spine_map)

from .helpers import example_resources

GUIDE = Path(__file__).resolve().parents[2] / "profiles" / "fsh-generated" / "resources"


def cc(system, code, display=None):
    return {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]}


def level(name):
    s, c, _ = spine.LEVELS[LEVEL_NAMES.index(name)]
    return cc(s, c, name)


def rng(a, b):
    return {"url": EXT_RANGE, "extension": [{"url": "start", "valueCodeableConcept": level(a)},
                                            {"url": "end", "valueCodeableConcept": level(b)}]}


def compartment(system, code):
    return {"url": EXT_COMPARTMENT, "valueCodeableConcept": cc(system, code)}


def by(items, **attrs):
    return [x for x in items if all(getattr(x, k) == v for k, v in attrs.items())]


def test_level_table_is_the_guides_value_set_in_order():
    vs = json.loads((GUIDE / "ValueSet-spinal-level.json").read_text())
    listed = [(inc["system"], c["code"], c["display"]) for inc in vs["compose"]["include"]
              for c in inc["concept"]]
    assert len(spine.LEVELS) == 29
    assert sorted(spine.LEVELS) == sorted(listed)
    # cranio-caudal as the guide's range order (guide.json) lists them
    assert LEVEL_NAMES[:3] == ("C1", "C2", "C3") and LEVEL_NAMES[-1] == "S5"


def test_level_ranges_merge_touching_single_levels():
    exts = [{"url": EXT_LEVEL, "valueCodeableConcept": level("L5")},
            {"url": EXT_LEVEL, "valueCodeableConcept": level("S1")},
            {"url": EXT_LEVEL, "valueCodeableConcept": level("T2")}, rng("T8", "T7")]
    idx = LEVEL_NAMES.index
    assert sorted(level_ranges(exts)) == sorted([(idx("T7"), idx("T8")), (idx("T2"), idx("T2")),
                                                 (idx("L5"), idx("S1"))])


def test_case_a_lesions():
    found = lesions(example_resources("case-a.json"))
    para = by(found, kind_code="paraspinal-calcinosis")
    assert [(l.levels, l.compartment, l.tracked) for l in para] == [
        ("T4-T5", "intervertebral-space", True)]
    facets = by(found, compartment="facet-joint")
    assert sorted(l.levels for l in facets) == ["T4-T5", "T5-T6", "T7-T8"]
    assert {l.kind_code for l in facets} == {"tumoral-calcinosis"}
    (canal,) = by(found, compartment="intraspinal")
    assert canal.levels == "T3-T8"
    # calcinosis cutis of the fingers is a lesion, but not on the spine
    (cutis,) = by(found, kind_code="calcinosis-cutis")
    assert not cutis.on_spine and cutis.laterality == "bilateral"
    # the findings and conditions that point to these lesions add none of their own
    assert len(found) == 6


def test_case_b_left_intraspinal_lesion():
    found = lesions(example_resources("case-b.json"))
    (left,) = by(found, compartment="intraspinal", laterality="left")
    assert (left.level_start, left.level_end, left.label) == ("L4", "L5", "B-L1")
    assert by(found, compartment="paraspinal")[0].levels == "L5-S1"


def test_untracked_condition_site_is_a_lesion_and_lends_no_duplicate():
    cond = {"resourceType": "Condition", "id": "c1",
            "code": cc(CIG, "paraspinal-calcinosis"),
            "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                     "confirmed"),
            "bodySite": [{"extension": [rng("C5", "C6"),
                                        compartment(CIG, "paraspinal-soft-tissue"),
                                        {"url": EXT_LATERALITY,
                                         "valueCodeableConcept": cc(SCT, "24028007")}]}]}
    finding = {"resourceType": "Observation", "id": "o1",
               "code": cc(CIG, "paraspinal-calcinosis"), "valueCodeableConcept": cc(CIG, "present"),
               "bodySite": cond["bodySite"][0]}
    refuted = dict(cond, id="c2", verificationStatus=cc(
        "http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted"),
        bodySite=[{"extension": [rng("L1", "L2")]}])
    found = lesions([cond, finding, refuted])
    assert [(l.levels, l.compartment, l.laterality, l.tracked, l.source) for l in found] == [
        ("C5-C6", "paraspinal", "right", False, "Condition/c1")]


def test_lesion_side_from_the_site_that_points_to_it():
    body = {"resourceType": "BodyStructure", "id": "b1",
            "meta": {"profile": [spine.LESION_PROFILE]},
            "morphology": cc(CIG, "intraspinal-calcinosis"),
            "extension": [rng("T11", "T12"), compartment(SCT, "61853006")]}
    cond = {"resourceType": "Condition", "id": "c1", "code": cc(CIG, "intraspinal-calcinosis"),
            "bodySite": [{"extension": [{"url": EXT_LATERALITY,
                                         "valueCodeableConcept": cc(SCT, "7771000")},
                                        {"url": EXT_LESION,
                                         "valueReference": {"reference": "BodyStructure/b1"}}]}]}
    (l,) = lesions([body, cond])
    assert (l.laterality, l.compartment, l.levels) == ("left", "intraspinal", "T11-T12")


def test_vertebral_body_compartment_from_the_site():
    body = {"resourceType": "BodyStructure", "id": "b1", "morphology": cc(CIG, "tumoral-calcinosis"),
            "location": cc(SCT, "3572006", "Vertebral body"),
            "extension": [{"url": EXT_LEVEL, "valueCodeableConcept": level("L2")}]}
    (l,) = lesions([body])
    assert l.compartment == "vertebral-body" and l.on_spine


def y(name):
    return TOP + LEVEL_NAMES.index(name) * PITCH


def test_geometry_case_a():
    m = spine_map(example_resources("case-a.json"))
    drawn = {(d.lesion.compartment, d.lesion.levels): d for d in m.lesions}
    # a facet joint T4-T5 sits between the two vertebrae: mid T4 to mid T5, on both sides
    # (no side recorded), in the facet lanes
    facet = drawn[("facet-joint", "T4-T5")]
    assert [(b.y, b.y + b.height) for b in facet.boxes] == [(y("T4") + BODY_H / 2,
                                                             y("T5") + BODY_H / 2)] * 2
    assert facet.boxes[0].x == FACET_LANE[0] and facet.boxes[1].x > CENTER
    # the T4-T5 intervertebral space: the disc gap between T4 and T5
    disc = drawn[("intervertebral-space", "T4-T5")].boxes[0]
    assert y("T4") + BODY_H - 2 == disc.y and disc.y + disc.height == y("T5") + 2
    # intraspinal T3-T8: the canal band from the top of T3 to the bottom of T8
    canal = drawn[("intraspinal", "T3-T8")].boxes[0]
    assert (canal.x, canal.width) == (CENTER - CANAL_HALF, 2 * CANAL_HALF)
    assert (canal.y, canal.y + canal.height) == (y("T3"), y("T8") + BODY_H)
    # examined and absent at cervical and lumbar levels
    assert sorted((LEVEL_NAMES[a.start], LEVEL_NAMES[a.end]) for a, _ in m.absent) == [
        ("C1", "C7"), ("L1", "L5")]
    assert len(m.vertebrae) == 29 and m.off_spine[0].kind_code == "calcinosis-cutis"


def test_geometry_left_is_the_viewers_right():
    m = spine_map(example_resources("case-b.json"))
    (left,) = [d for d in m.lesions if d.lesion.laterality == "left"]
    (box,) = left.boxes
    assert box.x == CENTER and box.width == CANAL_HALF


@pytest.mark.parametrize("side,count", [("left", 1), ("right", 1), ("bilateral", 2),
                                        ("unspecified", 2)])
def test_sided_compartments_are_drawn_on_their_side(side, count):
    assert len(spine._xs("paraspinal", side)) == count


def test_labels_never_overlap_and_point_at_their_lesion():
    m = spine_map(example_resources("case-a.json"))
    ys = sorted(d.label_y for d in m.lesions)
    assert all(b - a >= spine.LABEL_GAP for a, b in zip(ys, ys[1:]))
    for d in m.lesions:
        right = max(d.boxes, key=lambda b: b.x + b.width)
        assert d.anchor_x == right.x + right.width
        assert right.y <= d.anchor_y <= right.y + right.height
        assert d.label_y >= d.anchor_y and d.label_x > d.anchor_x
