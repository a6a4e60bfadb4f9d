"""Page builders other than the spine map: the located pretty-printer, issue placement,
profile application, the case page's timeline, labs and MRC chart, the cohort table and
bars, the jobs table."""
from __future__ import annotations

from dataclasses import dataclass

from fhirsvc.outcomes import error, warning
from fhirsvc.services.guide import ProfileInfo, _words
from fhirsvc.ui import case, checking, cohort, feeds
from fhirsvc.ui.pretty import normalise, pretty

from .helpers import example_resources


def test_pretty_lines_know_their_paths():
    body = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation",
                                                              "valueQuantity": {"value": 1}}}]}
    printed = pretty(body, "Bundle")
    text = [l.text for l in printed.lines]
    assert text[0] == "{" and text[-1] == "}"
    first, last = printed.locate("Bundle.entry[0].resource.valueQuantity.value")
    assert first == last and text[first].strip() == '"value": 1'
    # a missing element is reported on its nearest printed parent
    assert printed.locate("Bundle.entry[0].resource.status") == printed.spans[
        "Bundle.entry[0].resource"]
    assert printed.locate("Bundle.entry[0].resource.value.ofType(Quantity)") is not None
    assert normalise("Observation.extension.where(url='x')") == "Observation.extension"


def test_primitive_extension_part_located_by_its_name():
    printed = pretty({"resourceType": "Patient", "_birthDate": {"extension": []}}, "Patient")
    assert printed.locate("Patient.birthDate") == printed.spans["Patient._birthDate"]


def test_place_marks_lines_and_keeps_unlocatable_issues():
    body = {"resourceType": "Patient", "gender": "x", "name": [{"family": "A"}]}
    issues = [error("code-invalid", "bad gender", "Patient.gender"),
              warning("invariant", "no narrative", "Patient"),
              error("invalid", "elsewhere", "Bundle.entry[3]")]
    c = checking.place(checking.Checked(issues, "Patient", printed=pretty(body, "Patient")),
                       "Patient")
    lines = c.printed.lines
    (gender_line,) = [l for l in lines if '"gender"' in l.text]
    assert gender_line.issues == [0]
    assert lines[0].issues == [1] and all(1 not in l.issues for l in lines[1:])
    assert c.unplaced == [2]
    assert c.first_line(0) == gender_line.number and c.starts(gender_line.number) == [0]
    assert c.worst([0, 1]) == "error"


def test_with_profiles():
    prof = ProfileInfo("http://x/StructureDefinition/p", "P", "P", "Observation")
    obs = {"resourceType": "Observation"}
    params = checking.with_profiles(obs, [prof])
    assert params["resourceType"] == "Parameters"
    assert {"name": "profile", "valueUri": prof.url} in params["parameter"]
    bundle = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Observation"}},
                                                  {"resource": {"resourceType": "Patient"}}]}
    out = checking.with_profiles(bundle, [prof])
    assert out["entry"][0]["resource"]["meta"]["profile"] == [prof.url]
    assert "meta" not in out["entry"][1]["resource"] and "meta" not in bundle["entry"][0]["resource"]
    assert checking.with_profiles(obs, []) is obs


def test_choose_format_by_content():
    assert checking.choose("auto", '  {"a": 1}').key == "json"
    assert checking.choose("auto", "<Patient/>").key == "xml"
    assert checking.choose("auto", "MSH|^~\\&|").key == "hl7v2"
    assert checking.choose("auto", "BHS|^~\\&|\rMSH|").key == "hl7v2"
    assert checking.choose("xml", '{"a": 1}').key == "xml"       # the override wins
    assert all(f.check is not None for f in checking.FORMATS.values())


def test_pretty_xml_knows_every_line_path():
    from fhirsvc.ui.pretty_xml import pretty_xml
    from fhirsvc.xml import xml_to_resource
    text = ('<Bundle xmlns="http://hl7.org/fhir"><type value="collection"/><entry>'
            '<fullUrl value="urn:uuid:1"/><resource><Patient><!-- a note -->'
            '<text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">'
            '<p>Ann</p></div></text><name><given value="A"/><given value="B"><extension '
            'url="x"><valueString value="y"/></extension></given></name>'
            '<gender value="female"/></Patient></resource></entry></Bundle>')
    printed = pretty_xml(text, xml_to_resource(text))
    by_text = {line.text.strip(): line.path for line in printed.lines}
    assert by_text['<type value="collection"/>'] == "Bundle.type"
    assert by_text["<Patient>"] == "Bundle.entry[0].resource"
    assert by_text['<given value="A"/>'] == "Bundle.entry[0].resource.name[0].given[0]"
    assert by_text['<valueString value="y"/>'] == \
        "Bundle.entry[0].resource.name[0].given[1].extension[0].valueString"
    assert by_text["<p>Ann</p>"] == "Bundle.entry[0].resource.text.div"
    assert by_text['<gender value="female"/>'] == "Bundle.entry[0].resource.gender"  # single
    lines = [line.text.strip() for line in printed.lines]
    first, last = printed.locate("Bundle.entry[0].resource.name[0]")
    assert (lines[first], lines[last]) == ("<name>", "</name>")
    # a missing element: its parent; the whole list of a repeating one
    assert printed.locate("Bundle.entry[0].resource.birthDate") == \
        printed.spans["Bundle.entry[0].resource"]
    first, last = printed.locate("Bundle.entry[0].resource.name[0].given")
    assert lines[first] == '<given value="A"/>' and lines[last] == "</given>"


def test_segment_lines_and_locations():
    lines, where = checking.segment_lines("MSH|^~\\&|\r\nPID|1\nOBX|1\rOBX|2\n\nOBX|3\n")
    assert lines[where[("OBX", 3)]] == "OBX|3" and where[("MSH", 1)] == 0
    assert checking.segment_of(["Bundle.entry[0]", "OBX[2]-5.1"], where) == 3
    assert checking.segment_of(["MSH"], where) == 0
    assert checking.segment_of(["ZZZ[1]"], where) is None


def test_profile_titles():
    assert _words("CalcinosisLesion") == "Calcinosis Lesion"
    assert _words("SScPatient") == "SSc Patient"


def test_timeline_case_a():
    events = case.timeline(example_resources("case-a.json"))
    dates = [e.date for e in events if e.date]
    assert dates == sorted(dates)
    cats = {e.category for e in events}
    assert {"conditions", "encounters", "imaging", "labs", "procedures", "medications",
            "neuro"} <= cats
    # the refused surgery has no date of its own: the encounter's date
    (proc,) = [e for e in events if e.category == "procedures"]
    assert proc.date == "2006-05-10" and "not-done" in proc.detail
    # one grouped neurological examination per day
    neuro = [e for e in events if e.category == "neuro"]
    assert [e.date for e in neuro] == ["2006-04-10", "2006-08-10"]
    assert "MRC" in neuro[0].detail
    assert "Sensory level: Severely decreased" in neuro[0].items
    (tumoral,) = [e for e in events if e.title == "Tumoral calcinosis"]
    assert tumoral.detail.count("Thoracic spine") == 1   # three sites, one region
    (med,) = [e for e in events if e.category == "medications"]
    assert med.title == "Diltiazem" and "90 mg daily" in med.detail


def test_labs_flags_against_reference_ranges():
    rows = case.labs(example_resources("case-a.json"))
    (intact,) = [r for r in rows if "intact" in r.test]
    assert intact.value == "25 pg/mL" and intact.reference == "10-65 pg/mL"
    assert intact.flag == "normal" and 0.25 <= intact.position <= 0.75
    obs = {"resourceType": "Observation", "id": "x", "category": [{"coding": [{"code": "laboratory"}]}],
           "code": {"text": "Calcium"}, "valueQuantity": {"value": 12.5, "unit": "mg/dL"},
           "referenceRange": [{"low": {"value": 8.5}, "high": {"value": 10.5}}]}
    (row,) = case.labs([obs])
    assert row.flag == "high" and row.position == 1.0 and row.reference == "8.5-10.5"


def test_mrc_grades_and_chart_case_a():
    grades = case.mrc_grades(example_resources("case-a.json"))
    assert len(grades) == 16
    tib = [g for g in grades if g.muscle.startswith("Tibialis") and g.side == "left"]
    assert [(g.date, g.text) for g in tib] == [("2006-04-10", "2"), ("2006-08-10", "4")]
    chart = case.mrc_chart(grades)
    assert len(chart.panels) == 4 and [d for d, _ in chart.dates] == ["10 Apr 2006", "10 Aug 2006"]
    panel = chart.panels[[p.muscle for p in chart.panels].index(tib[0].muscle)]
    left = [s for s in panel.series if s.side == "left"][0]
    right = [s for s in panel.series if s.side == "right"][0]
    (y2, y4) = [p.y for p in left.points]
    grade_y = dict(chart.grades)
    assert (y2, y4) == (grade_y[2], grade_y[4])
    # equal grades on both sides stay visible: the sides are drawn a little apart
    assert left.points[0].x != right.points[0].x
    assert left.path.startswith("M") and " L" in left.path


def test_mrc_coded_grades():
    obs = {"resourceType": "Observation", "id": "m", "code": {"coding": [
        {"system": case.CIG, "code": "mrc-muscle-strength"}]}, "effectiveDateTime": "2020-01-01",
        "valueCodeableConcept": {"coding": [{"system": case.CIG, "code": "mrc-4-minus",
                                             "display": "4-"}]}}
    (g,) = case.mrc_grades([obs])
    assert g.text == "4-" and 3 < g.grade < 4 and g.side == "unspecified"


STATS = {"prevalence": [
    {"finding": "psc", "label": "PSC", "group": "SSc", "count": 24, "n": 41, "proportion": 24 / 41,
     "ci95_low": 0.42, "ci95_high": 0.74, "published": "58.5%"},
    {"finding": "psc", "label": "PSC", "group": "SLE", "count": 0, "n": 14, "proportion": 0.0,
     "ci95_low": 0.0, "ci95_high": 0.23}],
    "comparisons": [
        {"finding": "psc", "label": "PSC", "comparison": "SSc vs SLE", "table": [[24, 17], [0, 14]],
         "p_value": 7.9e-5, "published": "0.005", "reproduces": False,
         "achievable_by_fisher": True, "note": "misprint"},
        {"finding": "psc", "label": "PSC", "comparison": "SSc vs RA", "table": [[24, 17], [1, 25]],
         "p_value": 4.3e-6, "published": "<0.0005", "reproduces": True}],
    "associations": [
        {"finding": "du", "label": "DU", "comparison": "PSC vs no PSC", "table": [[10, 14], [1, 16]],
         "p_value": 0.014, "published": "0.008", "reproduces": False, "achievable_by_fisher": True}]}


def test_cohort_rows_flag_the_misprint_only_where_the_counts_are_published():
    rows = cohort.test_rows(STATS)
    assert [r.verdict.key for r in rows] == ["misprint", "reproduces", "differs"]
    assert rows[0].table == "24/41 vs 0/14" and rows[0].recomputed == "7.9e-05"
    assert [s for s, _ in cohort.sections(STATS)] == ["SSc vs comparator", "Association within SSc"]


def test_cohort_bars_geometry():
    chart = cohort.bar_chart(STATS)
    (group,) = chart.groups
    ssc, sle = group.bars
    assert abs(ssc.width - chart.plot * 24 / 41) < 1e-9
    assert ssc.ci_x1 == chart.left + chart.plot * 0.42 and ssc.ci_x2 == chart.left + chart.plot * 0.74
    assert sle.width == 0 and sle.y > ssc.y


@dataclass
class FakeJob:  # the storage Job's read surface (a real Job needs a database row)
    id: int = 1
    kind: str = "export"
    state: str = "succeeded"
    attempts: int = 1
    max_attempts: int = 3
    result: object = None
    error: str | None = None
    requested_by: str | None = None
    created: int = 1_700_000_000_000_000
    finished: int | None = 1_700_000_060_000_000
    fraction: float | None = 1.0

    def progress_text(self):
        return "100% (2 of 2)"


def test_job_rows_with_result_links():
    job = FakeJob(result={"transactionTime": "t", "output": [
        {"type": "Patient", "url": "http://h/files/1.ndjson"}]})
    (row,) = feeds.job_rows([job])
    assert row.percent == 100 and row.links == (("Patient", "http://h/files/1.ndjson"),)
    assert row.created == "2023-11-14 22:13:20" and row.attempts == "1 of 3"
    assert "transactionTime: t" in row.result


def test_large_elements_mark_their_first_line_and_long_listings_fold():
    entries = [{"resource": {"resourceType": "Basic", "code": {"coding": [
        {"system": "s", "code": str(i)}]}}} for i in range(600)]
    body = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    issues = [warning("invariant", "no narrative", "Bundle.entry[7].resource"),
              error("value", "bad code", "Bundle.entry[500].resource.code.coding[0].code")]
    c = checking.place(checking.Checked(issues, "Bundle", printed=pretty(body, "Bundle")),
                       "Bundle")
    first, last = c.printed.spans["Bundle.entry[7].resource"]
    assert last - first >= checking.MARK_WHOLE
    assert [l.number for l in c.printed.lines if 0 in l.issues] == [first + 1]
    listing = c.listing()
    assert len(c.printed.lines) > checking.FOLD_ABOVE and len(listing) < 60
    gaps = [x for x in listing if isinstance(x, checking.Gap)]
    shown = [x for x in listing if not isinstance(x, checking.Gap)]
    # every line is either shown or inside a gap, in order, and the marked lines are shown
    assert sum(g.count for g in gaps) + len(shown) == len(c.printed.lines)
    assert {c.first_line(0), c.first_line(1)} <= {x.number for x in shown}
    small = checking.Checked([], printed=pretty({"resourceType": "Basic"}, "Basic"))
    assert small.listing() == small.printed.lines


def test_missing_required_elements_get_placeholder_lines_in_r4_order():
    from fhirsvc.outcomes import Issue
    from fhirsvc.ui.pretty import pretty

    def missing(path, at):
        return Issue("error", "required", f"{path}: minimum required = 1, but only found 0",
                     (at,))
    body = {"resourceType": "Observation", "status": "final", "subject": {"reference": "x"},
            "component": [{"valueQuantity": {"value": 1}}]}
    issues = [missing("Observation.code", "Observation"),
              missing("Observation.code", "Observation"),          # the profile's, again
              missing("Observation.component.code", "Observation.component[0]"),
              missing("Observation.focus", "Observation.nowhere[3]")]  # parent not printed
    checked = checking.place(checking.Checked(issues, "Observation",
                                              printed=pretty(body, "Observation")),
                             "Observation")
    texts = [line.text.strip().split(":")[0].strip('"') for line in checked.printed.lines]
    assert texts == ["{", "resourceType", "status", "code", "subject", "reference", "},",
                     "component", "{", "code", "valueQuantity", "value", "}", "}", "]", "}"]
    holes = [line for line in checked.printed.lines if line.placeholder]
    assert [(h.path, h.issues) for h in holes] == [("Observation.code", [0, 1]),
                                                  ("Observation.component[0].code", [2])]
    assert [line.number for line in checked.printed.lines] == list(range(1, 17))
    assert checked.unplaced == [] and checked.printed.lines[0].issues == [3]  # on the root
