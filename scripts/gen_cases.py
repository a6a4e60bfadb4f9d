"""Generate examples/case-a.json (seed 001) and examples/case-b.json (seed 004).

Each is a transaction Bundle carrying every fact of seed-facts.md for its case. Case reports
give ages and intervals, not dates: the intervals are Encounters with relativeTiming (one month
after admission, three months later, 6 months and 5 years after surgery); the calendar dates
are anchored on an invented admission date, so every resource carries the synthetic-detail tag,
and any other value the paper does not give is named synthetic in a note or left out. Case A
is admitted 2006-04-10 at 53; case B first presents at 56 (2012-01-09) and presents again, an
unreported interval later, with 3 months of radiculopathy. The ACR/EULAR 2013 classification of
each case is computed from its own resources by fhirsvc.analytics.
Usage: python scripts/gen_cases.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ig_builder import (ACTCODE, EXT, INTERP, LOCATION_SIDE, RXN, ROOT, SYNTHETIC_DETAIL,  # noqa: E402
                        BundleBuilder, cc, cig, clinical, condcat, coding, dar, dcm, dermatome, lnc, obscat,
                        qty, ref, sct, site, site_extensions, verified, write)

from fhirsvc.analytics import ssc_classification  # noqa: E402

LOWER_LIMB = sct("61685007", "Lower limb")
SPINE = sct("421060004", "Spine")
THORACIC = sct("122495006", "Thoracic spine")
LUMBAR = sct("122496007", "Lumbar spine")
CERVICAL = sct("122494005", "Cervical spine")
SACRUM = sct("54735007", "Sacrum")
VERTEBRAL_BODY = sct("3572006", "Vertebral body")
FINGER = sct("7569003", "Finger")
SKIN = sct("39937001", "Skin")
SEVERE = sct("24484000", "Severe")
MUSCLES = ("tibialis-anterior", "gastrocnemius", "iliopsoas", "quadriceps")
DUE_TO = "http://hl7.org/fhir/StructureDefinition/condition-dueTo"
ASSERTED = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
STUDY_SID = "http://fhirsvc.org/fhir/calcinosis/sid/synthetic-cohort"
STUDY_ID = "spinal-calcinosis-prevalence-2007"
LESION_SID = "http://hospital.example.org/fhir/sid/calcinosis-lesion"
SYNTHETIC_DATES = ("Calendar dates are synthetic (the source gives ages and intervals); the intervals are "
                   "the encounters' relativeTiming.")


def patient(b: BundleBuilder, mrn_system: str, mrn: str, name: str, birth: str) -> str:
    return b.add("patient", {"resourceType": "Patient",
                             "identifier": [{"system": mrn_system, "value": mrn}],
                             "name": [{"text": name}], "gender": "female", "birthDate": birth},
                 "ssc-patient", if_none_exist=f"identifier={mrn_system}|{mrn}")


def encounter(b, key, pat, cls, start, label, *, anchor=None, offset=None, part_of=None) -> str:
    res = {"resourceType": "Encounter"}
    if anchor:
        n, unit = offset
        res["extension"] = [{"url": EXT + "relative-timing", "extension": [
            {"url": "anchor", "valueReference": ref(anchor)},
            {"url": "offset", "valueDuration": {"value": n, "unit": {"d": "days", "mo": "months", "a": "years"}[unit],
                                                "system": "http://unitsofmeasure.org", "code": unit}}]}]
    res.update({"status": "finished",
                "class": coding(ACTCODE, cls, {"IMP": "inpatient encounter", "AMB": "ambulatory"}[cls]),
                "type": [cc(text=label)], "subject": ref(pat), "period": {"start": start}})
    if part_of:
        res["partOf"] = ref(part_of)
    return b.add(key, res, "calcinosis-encounter")


def condition(b, key, prof, pat, code, *, status="active", ver="confirmed", cat="problem-list-item", **fields):
    res = {"resourceType": "Condition"}
    ext = fields.pop("extension", None)
    if ext:
        res["extension"] = ext
    res.update({"clinicalStatus": clinical(status), "verificationStatus": verified(ver),
                "category": condcat(cat)})
    if "severity" in fields:
        res["severity"] = fields.pop("severity")
    res.update({"code": code, "subject": ref(pat)})
    res.update(fields)
    return b.add(key, res, prof)


def obs(b, key, prof, pat, cat, code, when, **fields):
    res = {"resourceType": "Observation"}
    if "extension" in fields:
        res["extension"] = fields.pop("extension")
    res.update({"status": "final", "category": obscat(cat), "code": code, "subject": ref(pat)})
    if "encounter" in fields:
        res["encounter"] = ref(fields.pop("encounter"))
    res["effectiveDateTime"] = when
    if isinstance(fields.get("bodySite"), list):   # Observation.bodySite is 0..1 in R4
        (fields["bodySite"],) = fields["bodySite"]
    res.update(fields)
    return b.add(key, res, prof)


def study(b, key, pat, enc, modality, code, when, description) -> str:
    return b.add(key, {"resourceType": "ImagingStudy", "status": "available", "modality": [dcm(modality)],
                       "subject": ref(pat), "encounter": ref(enc), "started": when,
                       "procedureCode": [cc(code)], "description": description}, "calcinosis-imaging-study")


def finding(b, key, pat, code, when, modality, enc, img, present=True, **fields):
    return obs(b, key, "imaging-finding", pat, "imaging", cc(cig(code)), when, encounter=enc,
               valueCodeableConcept=cc(cig("present" if present else "absent")),
               method=cc(dcm(modality)), derivedFrom=[ref(img)], **fields)


def report(b, key, pat, code, when, enc, img, results, conclusion):
    return b.add(key, {"resourceType": "DiagnosticReport", "status": "final",
                       "category": [cc(coding("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology"))],
                       "code": cc(code), "subject": ref(pat), "encounter": ref(enc), "effectiveDateTime": when,
                       "imagingStudy": [ref(img)], "result": [ref(r) for r in results], "conclusion": conclusion},
                 "calcinosis-imaging-report")


def lesion(b, key, pat, ident, kind, location, description, side=None, note=None, **kw):
    res = {"resourceType": "BodyStructure", "extension": site_extensions(**kw),
           "identifier": [{"system": LESION_SID, "value": ident}],
           "active": True, "morphology": cc(cig(kind)), "location": cc(location)}
    if side:
        res["locationQualifier"] = [cc(LOCATION_SIDE[side])]
    res.update({"description": description, "patient": ref(pat)})
    return b.add(key, res, "calcinosis-lesion")


def size(b, key, pat, when, enc, lesion_ref, value, evidence):
    return obs(b, key, "calcinosis-lesion-size", pat, "imaging", cc(cig("calcinosis-lesion-size")), when,
               encounter=enc, focus=[ref(lesion_ref)], valueCodeableConcept=cc(cig(value)),
               derivedFrom=[ref(evidence)])


def severity(b, key, pat, when, enc, focus, note):
    return obs(b, key, "calcinosis-severity", pat, "exam", cc(cig("calcinosis-severity")), when,
               encounter=enc, focus=[ref(focus)], valueCodeableConcept=cc(SEVERE), note=[{"text": note}])


def mrc(b, key, pat, when, enc, muscle, side, grade):
    return obs(b, key, "muscle-strength", pat, "exam", cc(cig("mrc-muscle-strength")), when, encounter=enc,
               valueInteger=grade, bodySite=site(cig(muscle), laterality=side))


def lab(b, key, pat, when, enc, code, **fields):
    return obs(b, key, "ssc-lab", pat, "laboratory", cc(code), when, encounter=enc, **fields)


def neuro(b, key, pat, when, enc, code, value, **fields):
    return obs(b, key, "neuro-exam-finding", pat, "exam", cc(cig(code)), when, encounter=enc,
               valueCodeableConcept=cc(cig(value)), **fields)


def classification(b, key, when):
    """The derived ACR/EULAR 2013 Observation, computed from the case's resources so far."""
    resources = [{**e["resource"], "_fullUrl": e["fullUrl"]} for e in b.entries]
    out = ssc_classification(resources, effective=when, reference_of=lambda r: r["_fullUrl"])
    out.pop("meta")
    return b.add(key, out, "ssc-classification")


def case_a() -> dict:
    b = BundleBuilder("case-a", tag=SYNTHETIC_DETAIL)
    adm, ct, xr, one_month, fu = "2006-04-10", "2006-04-11", "2006-04-12", "2006-05-10", "2006-08-10"
    pat = patient(b, "http://hospital-a.example.org/fhir/sid/mrn", "A-001", "Case A (seed 001)", "1952-09-15")
    e_adm = encounter(b, "enc-admission", pat, "IMP", adm, "Admission (53 years old)")
    e_1mo = encounter(b, "enc-one-month", pat, "IMP", one_month, "One month after admission",
                      anchor=e_adm, offset=(1, "mo"), part_of=e_adm)
    e_3mo = encounter(b, "enc-three-months", pat, "AMB", fu, "Three months later (after diltiazem was started)",
                      anchor=e_1mo, offset=(3, "mo"))
    # The cohort paper (seed 000) opens with this patient: she is its index case. The study is
    # referenced by identifier (it arrives in another transaction); whether she is also one of
    # the 41 SSc patients is not stated, so the index-case arm is counted in no group.
    b.add("index-case", {"resourceType": "ResearchSubject", "status": "off-study",
                         "study": {"type": "ResearchStudy", "identifier": {"system": STUDY_SID, "value": STUDY_ID},
                                   "display": "Spinal calcinosis prevalence study (2007)"},
                         "individual": ref(pat), "assignedArm": "Index case"}, "cohort-subject")

    ssc = condition(b, "ssc", "ssc-condition", pat, cc(sct("128460000", "Systemic sclerosis, diffuse"),
                                                       text="Diffuse cutaneous systemic sclerosis"),
                    extension=[{"url": ASSERTED, "valueDateTime": "1996-04"}], recordedDate=adm,
                    encounter=ref(e_adm),
                    note=[{"text": "Diagnosed 10 years before admission; disease onset (first non-Raynaud symptom) "
                                   "not reported. " + SYNTHETIC_DATES}])

    # Lesions followed across studies (sides are not reported for the spinal lesions)
    l_para = lesion(b, "lesion-para-t4t5", pat, "A-L1", "paraspinal-calcinosis", THORACIC,
                    "Massive paraspinal calcinosis concentrated in the intervertebral space at T4-T5",
                    ranges=(("T4", "T5"),), comp="intervertebral-space")
    l_intra = lesion(b, "lesion-intraspinal", pat, "A-L2", "intraspinal-calcinosis", THORACIC,
                     "Massive intraspinal calcinosis of the thoracic vertebral canal compressing the cord. Extent "
                     "T3-T8 is synthetic: the paper gives no extent; the range spans the reported facet (T4-T8) "
                     "and disc-bulging (T3-T5) levels.",
                     ranges=(("T3", "T8"),), comp="vertebral-canal")
    facets = {}
    for i, (s, e) in enumerate((("T4", "T5"), ("T5", "T6"), ("T7", "T8")), start=3):
        facets[(s, e)] = lesion(b, f"lesion-facet-{s}{e}".lower(), pat, f"A-L{i}", "tumoral-calcinosis", THORACIC,
                                f"Tumoral calcinosis at the {s}-{e} facet joints", ranges=((s, e),),
                                comp="facet-joint")
    l_hand = lesion(b, "lesion-fingers", pat, "A-L6", "calcinosis-cutis", FINGER,
                    "Severe soft-tissue calcinosis around the fingers of both hands", side="bilateral",
                    comp="subcutaneous")

    # CT thoracic spine
    ct_img = study(b, "ct-study", pat, e_adm, "CT", lnc("24978-9", "Spine Thoracic CT"), ct, "CT of the thoracic spine")

    def ctf(key, code, present=True, **kw):
        return finding(b, key, pat, code, ct, "CT", e_adm, ct_img, present, **kw)
    f = []
    f.append(ctf("ct-para", "paraspinal-calcinosis", focus=[ref(l_para)],
                 bodySite=[site(THORACIC, ranges=(("T4", "T5"),), comp="intervertebral-space", lesions=(l_para,))]))
    f.append(ctf("ct-intra", "intraspinal-calcinosis", focus=[ref(l_intra)],
                 bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal", lesions=(l_intra,),
                                text="thoracic vertebral canal (extent T3-T8 synthetic)")]))
    for (s, e), lref in facets.items():
        f.append(ctf(f"ct-facet-{s}{e}".lower(), "tumoral-calcinosis", focus=[ref(lref)],
                     bodySite=[site(THORACIC, ranges=((s, e),), comp="facet-joint", lesions=(lref,))]))
    f.append(ctf("ct-narrowing", "spinal-canal-narrowing", focus=[ref(x) for x in facets.values()],
                 bodySite=[site(THORACIC, ranges=tuple(facets), comp="vertebral-canal")],
                 note=[{"text": "Significant narrowing of the spinal canal by the facet-joint tumoral calcinosis, "
                                "in conjunction with disc bulging at T3-T4 and T4-T5."}]))
    f.append(ctf("ct-bulge-t3t4", "disc-bulging",
                 bodySite=[site(THORACIC, ranges=(("T3", "T4"),), comp="intervertebral-space")]))
    f.append(ctf("ct-bulge-t4t5", "disc-bulging",
                 bodySite=[site(THORACIC, ranges=(("T4", "T5"),), comp="intervertebral-space")]))
    f.append(ctf("ct-cord", "spinal-cord-compression", focus=[ref(l_intra), ref(l_para)],
                 bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")]))
    f.append(ctf("ct-no-isc-cervical", "intraspinal-calcinosis", present=False,
                 bodySite=[site(CERVICAL, ranges=(("C1", "C7"),), comp="vertebral-canal")]))
    f.append(ctf("ct-no-isc-lumbar", "intraspinal-calcinosis", present=False,
                 bodySite=[site(LUMBAR, ranges=(("L1", "L5"),), comp="vertebral-canal")]))
    ct_rep = report(b, "ct-report", pat, lnc("24978-9", "Spine Thoracic CT"), ct, e_adm, ct_img, f,
                    "Paraspinal and intraspinal calcium deposits. Paraspinal calcinosis concentrated in the "
                    "intervertebral spaces at T4-T5; tumoral calcinosis at the T4-T5, T5-T6 and T7-T8 facet joints "
                    "causing significant spinal canal narrowing with disc bulging at T3-T4 and T4-T5; massive "
                    "intraspinal and paraspinal calcinosis causing cord compression. No intraspinal calcinosis at "
                    "cervical and lumbar levels.")
    size(b, "size-intraspinal", pat, ct, e_adm, l_intra, "massive", f[1])
    size(b, "size-paraspinal", pat, ct, e_adm, l_para, "massive", f[0])
    xr_img = study(b, "xr-study", pat, e_adm, "DX", lnc("28582-5", "Hand X-ray"), xr, "Radiographs of both hands")
    hand = finding(b, "xr-hands", pat, "soft-tissue-calcinosis", xr, "DX", e_adm, xr_img, focus=[ref(l_hand)],
                   bodySite=[site(FINGER, laterality="bilateral", comp="subcutaneous", lesions=(l_hand,))],
                   note=[{"text": "Severe soft-tissue calcinosis around the fingers."}])
    xr_rep = report(b, "xr-report", pat, lnc("28582-5", "Hand X-ray"), xr, e_adm, xr_img, [hand],
                    "Roentgenograms of both hands: severe soft-tissue calcinosis around the fingers.")
    severity(b, "severity-fingers", pat, xr, e_adm, l_hand, "Severe soft-tissue calcinosis around the fingers.")

    # Calcinosis conditions
    cutis = condition(b, "calcinosis-cutis", "calcinosis-condition", pat, cc(cig("calcinosis-cutis")),
                      extension=[{"url": DUE_TO, "valueReference": ref(ssc)}],
                      bodySite=[site(FINGER, laterality="bilateral", comp="subcutaneous", lesions=(l_hand,),
                                     text="peripheral (fingers)")],
                      encounter=ref(e_adm), recordedDate=adm, evidence=[{"detail": [ref(xr_rep)]}])
    para = condition(b, "calcinosis-paraspinal", "calcinosis-condition", pat, cc(cig("paraspinal-calcinosis")),
                     extension=[{"url": DUE_TO, "valueReference": ref(ssc)}],
                     bodySite=[site(THORACIC, ranges=(("T4", "T5"),), comp="intervertebral-space", lesions=(l_para,))],
                     encounter=ref(e_adm), recordedDate=ct, evidence=[{"detail": [ref(ct_rep), ref(f[0])]}])
    intra = condition(b, "calcinosis-intraspinal", "calcinosis-condition", pat, cc(cig("intraspinal-calcinosis")),
                      extension=[{"url": EXT + "calcinosis-complication",
                                  "valueCodeableConcept": cc(cig("spinal-cord-compression"))},
                                 {"url": DUE_TO, "valueReference": ref(ssc)}],
                      bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal", lesions=(l_intra,))],
                      encounter=ref(e_adm), recordedDate=ct, evidence=[{"detail": [ref(ct_rep), ref(f[1])]}],
                      note=[{"text": "Massive intraspinal and paraspinal calcinosis causing spinal cord compression. "
                                     "Extent T3-T8 is synthetic (not given by the paper)."}])
    tumoral = condition(b, "calcinosis-tumoral", "calcinosis-condition", pat, cc(cig("tumoral-calcinosis")),
                        extension=[{"url": EXT + "calcinosis-complication",
                                    "valueCodeableConcept": cc(cig("spinal-canal-narrowing"))},
                                   {"url": EXT + "calcinosis-complication",
                                    "valueCodeableConcept": cc(cig("spinal-cord-compression"))},
                                   {"url": DUE_TO, "valueReference": ref(ssc)}],
                        bodySite=[site(THORACIC, ranges=((s, e),), comp="facet-joint", lesions=(lr,))
                                  for (s, e), lr in facets.items()],
                        encounter=ref(e_adm), recordedDate=ct,
                        evidence=[{"detail": [ref(ct_rep)] + [ref(x) for x in f[2:5]]}])

    # Manifestations
    def manif(key, code, **kw):
        return condition(b, key, "ssc-manifestation", pat, cc(code), recordedDate=adm, encounter=ref(e_adm), **kw)
    manif("raynaud", sct("266261006", "Raynaud's phenomenon"),
          extension=[{"url": EXT + "raynaud-frequency", "valueCodeableConcept": cc(cig("raynaud-daily"))}])
    manif("esophageal-hypomotility", cig("esophageal-hypomotility"))
    manif("ild", sct("233703007", "Interstitial lung disease"))
    manif("skin-thickening", cig("skin-thickening"),
          bodySite=[cc(text="trunk"), cc(text="face"), cc(text="limbs")])
    manif("digital-ulcers", cig("digital-ulcer"), bodySite=[site(FINGER, text="fingertips")],
          note=[{"text": "Multiple ulcerations of the fingertips."}])
    manif("telangiectasia", sct("403516008", "Scleroderma-associated telangiectasia"))
    for key, code in (("du-ever", "digital-ulcers-ever"), ("du-active", "digital-ulcers-active")):
        obs(b, key, "digital-ulcer-status", pat, "exam", cc(cig(code)), adm, encounter=e_adm,
            valueCodeableConcept=cc(cig("present")))

    # Presenting problem and neurological course
    due = [{"url": DUE_TO, "valueReference": ref(intra)}, {"url": DUE_TO, "valueReference": ref(tumoral)}]
    condition(b, "weakness", "neurological-condition", pat, cc(sct("26544005", "Muscle weakness")),
              cat="encounter-diagnosis", extension=due, encounter=ref(e_adm), onsetDateTime="2006-03-27",
              recordedDate=adm, bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "2-week history of rapidly increasing weakness of both lower limbs; motor function "
                             "improved gradually over the 3 months after diltiazem was started (MRC 3-4/5), "
                             "weakness persisting."}])
    condition(b, "numbness", "neurological-condition", pat, cc(cig("sensory-disturbance"), text="Numbness"),
              cat="encounter-diagnosis", extension=due, encounter=ref(e_adm), onsetDateTime="2006-03-27",
              recordedDate=adm, bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "2-week history of rapidly increasing numbness of both lower limbs; sensory function "
                             "improved gradually over the next 3 months."}])
    condition(b, "paraplegia", "neurological-condition", pat, cc(cig("paraplegia-complete")), status="resolved",
              extension=due, encounter=ref(e_1mo), onsetDateTime=one_month, abatementDateTime=fu,
              recordedDate=one_month, bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "Complete paraplegia 1 month after admission. No longer complete 3 months later: "
                             "strength had recovered to MRC 3-4/5 (the muscle weakness Condition stays active)."}])
    condition(b, "incontinence", "neurological-condition", pat, cc(sct("165232002", "Urinary incontinence")),
              status="resolved", extension=due, encounter=ref(e_1mo), onsetDateTime=one_month,
              abatementDateTime=fu, recordedDate=one_month)
    condition(b, "cord-compression", "neurological-condition", pat, cc(cig("spinal-cord-compression")),
              extension=due, encounter=ref(e_adm), recordedDate=ct, evidence=[{"detail": [ref(ct_rep)]}],
              bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")])

    # Neurological examination on admission and three months later
    for m in MUSCLES:
        for side in ("left", "right"):
            mrc(b, f"mrc-adm-{m}-{side}", pat, adm, e_adm, m, side, 2)
    for m, g in zip(MUSCLES, (4, 4, 3, 3)):
        for side in ("left", "right"):
            mrc(b, f"mrc-3mo-{m}-{side}", pat, fu, e_3mo, m, side, g)
    neuro(b, "sensory-level", pat, adm, e_adm, "sensory-level", "severely-decreased",
          extension=[{"url": EXT + "sensory-level", "valueCodeableConcept": cc(dermatome(d))} for d in ("T4", "T5")],
          method=cc(cig("pain-sensation")), note=[{"text": "Pain sensation severely decreased below the fourth and "
                                                           "fifth thoracic dermatomes."}])
    neuro(b, "position-sense", pat, adm, e_adm, "position-sense", "disturbed", method=cc(cig("position-sense")),
          bodySite=site(LOWER_LIMB, laterality="bilateral"))
    neuro(b, "vibration-sense", pat, adm, e_adm, "vibration-sense", "disturbed", method=cc(cig("vibration-sense")),
          bodySite=site(LOWER_LIMB, laterality="bilateral"))
    neuro(b, "reflexes", pat, adm, e_adm, "tendon-reflexes", "increased",
          bodySite=site(LOWER_LIMB, laterality="bilateral"), note=[{"text": "Hyperreflexia of the lower limbs."}])
    neuro(b, "plantar", pat, adm, e_adm, "extensor-plantar-response", "negative",
          bodySite=site(LOWER_LIMB, laterality="bilateral"), note=[{"text": "No extensor toe sign."}])
    neuro(b, "sensory-3mo", pat, fu, e_3mo, "sensory-function", "improved",
          bodySite=site(LOWER_LIMB, laterality="bilateral"),
          note=[{"text": "Motor and sensory functions of the lower limbs improved gradually over the 3 months."}])

    # Laboratory
    def alab(key, code, **kw):
        return lab(b, key, pat, adm, e_adm, code, **kw)
    alab("calcium", lnc("17861-6", "Calcium [Mass/volume] in Serum or Plasma"), valueQuantity=qty(9.0, "mg/dL"))
    alab("phosphate", lnc("2777-1", "Phosphate [Mass/volume] in Serum or Plasma"), valueQuantity=qty(2.8, "mg/dL"))
    alab("pth-hs", cig("pth-highly-sensitive"), valueQuantity=qty(460, "pg/mL"),
         interpretation=[cc(coding(INTERP, "N", "Normal"))],
         referenceRange=[{"low": qty(160, "pg/mL"), "high": qty(520, "pg/mL")}])
    alab("pth-intact", lnc("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
         valueQuantity=qty(25, "pg/mL"), interpretation=[cc(coding(INTERP, "N", "Normal"))],
         referenceRange=[{"low": qty(10, "pg/mL"), "high": qty(65, "pg/mL")}])
    alab("ana-titre", lnc("5048-4", "Nuclear Ab [Titer] in Serum by Immunofluorescence"),
         valueQuantity=qty(2560, "titer", "{titer}"), interpretation=[cc(coding(INTERP, "POS", "Positive"))],
         method=cc(cig("iif-hep2")), note=[{"text": "Positive at 1:2560 (indirect immunofluorescence, HEp-2 cells)."}])
    for pattern in ("homogeneous", "speckled"):
        alab(f"ana-pattern-{pattern}", lnc("14611-8", "Nuclear Ab pattern [interpretation] in Serum"),
             valueCodeableConcept=cc(cig(pattern)), method=cc(cig("iif-hep2")))
    alab("anti-scl-70", cig("anti-scl-70"), valueCodeableConcept=cc(coding(INTERP, "POS", "Positive")),
         method=cc(cig("elisa")))
    alab("other-autoantibodies", cig("other-autoantibodies"),
         valueCodeableConcept=cc(coding(INTERP, "NEG", "Negative")))

    # Treatment
    b.add("surgery-refused", {"resourceType": "Procedure", "status": "not-done",
                              "statusReason": cc(cig("patient-refused")),
                              "code": cc(cig("surgical-removal-calcinosis")), "subject": ref(pat),
                              "encounter": ref(e_1mo),
                              "bodySite": [site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")],
                              "reasonReference": [ref(intra), ref(tumoral)],
                              "note": [{"text": "Surgery to remove the calcific masses was proposed; the patient refused."}]},
          "calcinosis-procedure")
    b.add("diltiazem", {"resourceType": "MedicationStatement", "status": "active",
                        "medicationCodeableConcept": cc(cig("diltiazem")), "subject": ref(pat),
                        "context": ref(e_1mo), "effectivePeriod": {"start": one_month}, "dateAsserted": one_month,
                        "reasonReference": [ref(intra), ref(para), ref(tumoral)],
                        "dosage": [{"text": "90 mg daily",
                                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": qty(90, "mg")}]}]},
          "ssc-medication-statement")
    classification(b, "acr-eular-2013", adm)
    return b.bundle("case-a")


def case_b() -> dict:
    b = BundleBuilder("case-b", tag=SYNTHETIC_DETAIL)
    first, biopsy_d, histo_d, dx = "2012-01-09", "2012-01-16", "2012-01-19", "2012-01-23"
    pres, xr, mri, op, path = "2012-06-04", "2012-06-05", "2012-06-07", "2012-06-18", "2012-06-21"
    fu6, fu5y = "2012-12-18", "2017-06-19"
    pat = patient(b, "http://hospital-b.example.org/fhir/sid/mrn", "B-004", "Case B (seed 004)", "1955-10-20")
    e_first = encounter(b, "enc-first", pat, "AMB", first,
                        "First presentation (56 years old): swelling of the hand joints, cold extremities")
    e_radic = encounter(b, "enc-radiculopathy", pat, "AMB", pres,
                        "Presentation with 3 months of radiculopathy (interval after diagnosis not reported)")
    e_op = encounter(b, "enc-surgery", pat, "IMP", op, "Admission for laminectomy")
    e_fu6 = encounter(b, "enc-6-months", pat, "AMB", fu6, "Follow-up MRI 6 months after surgery",
                      anchor=e_op, offset=(6, "mo"))
    e_fu5y = encounter(b, "enc-5-years", pat, "AMB", fu5y, "Follow-up MRI 5 years after surgery",
                       anchor=e_op, offset=(5, "a"))

    biopsy = b.add("skin-biopsy", {"resourceType": "Procedure", "status": "completed",
                                   "code": cc(sct("86273004", "Biopsy")), "subject": ref(pat),
                                   "encounter": ref(e_first), "performedDateTime": biopsy_d,
                                   "bodySite": [cc(SKIN)]}, "calcinosis-procedure")
    h1 = obs(b, "skin-histo-vessels", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")),
             histo_d, encounter=e_first, valueCodeableConcept=cc(cig("reduced-dermal-vessels")), partOf=[ref(biopsy)],
             bodySite=[cc(SKIN)])
    h2 = obs(b, "skin-histo-fibres", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")),
             histo_d, encounter=e_first, valueCodeableConcept=cc(cig("degenerated-collagen-elastic-fibres")),
             partOf=[ref(biopsy)], bodySite=[cc(SKIN)])
    ssc = condition(b, "ssc", "ssc-condition", pat, cc(sct("89155008", "Systemic sclerosis")),
                    extension=[{"url": ASSERTED, "valueDateTime": dx}], severity=cc(SEVERE),
                    encounter=ref(e_first), recordedDate=dx,
                    evidence=[{"code": [cc(text="swelling of the joints of the hands"),
                                        cc(text="coldness of the extremities")]},
                              {"detail": [ref(h1), ref(h2)]}],
                    note=[{"text": "Presented at 56 with swelling of the hand joints and cold extremities; "
                                   "severe systemic sclerosis/calcinosis. Disease onset not reported. " + SYNTHETIC_DATES}])
    b.add("methotrexate", {"resourceType": "MedicationStatement", "status": "active",
                           "medicationCodeableConcept": cc(coding(RXN, "6851", "methotrexate")), "subject": ref(pat),
                           "context": ref(e_first), "effectivePeriod": {"start": dx}, "dateAsserted": fu6,
                           "reasonReference": [ref(ssc)],
                           "note": [{"text": "Prescribed at diagnosis; continued after surgery."}]},
          "ssc-medication-statement")

    l1 = lesion(b, "lesion-l4l5", pat, "B-L1", "intraspinal-calcinosis", LUMBAR,
                "Intraspinal (intracanalicular) calcified mass at L4-L5 on the left, compressing the left L5 root",
                side="left", ranges=(("L4", "L5"),), comp="vertebral-canal")
    l2 = lesion(b, "lesion-s1", pat, "B-L2", "intraspinal-calcinosis", SACRUM,
                "Large calcified mass dorsal to the S1 vertebral body", levels=("S1",), comp="vertebral-canal")
    l3 = lesion(b, "lesion-paraspinal-l5s1", pat, "B-L3", "paraspinal-calcinosis", SPINE,
                "Paraspinal calcified masses at L5 and S1 (MRI figure; removed with the intraspinal mass)",
                levels=("L5", "S1"), comp="paraspinal-soft-tissue")

    # X-ray (LOINC, as every imaging report)
    xr_img = study(b, "xr-study", pat, e_radic, "DX", lnc("37340-7", "Spine Lumbar and Sacrum X-ray"), xr,
                   "Radiographs of the lumbosacral spine")
    x1 = finding(b, "xr-stenosis", pat, "spinal-stenosis", xr, "DX", e_radic, xr_img,
                 bodySite=[site(SPINE, levels=("L5", "S1"), comp="vertebral-canal")])
    x2 = finding(b, "xr-ossification", pat, "vertebral-body-ossification", xr, "DX", e_radic, xr_img,
                 bodySite=[site(VERTEBRAL_BODY, levels=("L3", "L4", "L5"))])
    xr_rep = report(b, "xr-report", pat, lnc("37340-7", "Spine Lumbar and Sacrum X-ray"), xr, e_radic, xr_img,
                    [x1, x2], "Stenosis at L5 and S1; ossification involving the L3, L4 and L5 vertebral bodies.")
    # MRI
    mr_img = study(b, "mri-study", pat, e_radic, "MR", lnc("24968-0", "Spine Lumbar MRI"), mri,
                   "MRI of the lumbosacral spine")

    def mrf(key, code, **kw):
        return finding(b, key, pat, code, mri, "MR", e_radic, mr_img, **kw)
    m1 = mrf("mri-intraspinal", "intraspinal-calcinosis", focus=[ref(l1)],
             bodySite=[site(LUMBAR, ranges=(("L4", "L5"),), comp="vertebral-canal", laterality="left", lesions=(l1,))])
    m2 = mrf("mri-root", "nerve-root-compression", focus=[ref(l1)],
             bodySite=[site(LUMBAR, levels=("L5",), laterality="left", text="left L5 nerve root")])
    m3 = mrf("mri-cyst", "perineural-cyst", bodySite=[site(SACRUM)])
    m4 = mrf("mri-s1-mass", "calcified-mass", focus=[ref(l2)],
             bodySite=[site(SACRUM, levels=("S1",), comp="vertebral-canal", lesions=(l2,),
                            text="dorsal to the S1 vertebral body")])
    m5 = mrf("mri-paraspinal", "paraspinal-calcinosis", focus=[ref(l3)],
             bodySite=[site(SPINE, levels=("L5", "S1"), comp="paraspinal-soft-tissue", lesions=(l3,))])
    mri_rep = report(b, "mri-report", pat, lnc("24968-0", "Spine Lumbar MRI"), mri, e_radic, mr_img,
                     [m1, m2, m3, m4, m5],
                     "Intraspinal lesion at L4-L5 on the left compressing the left L5 nerve root; perineural cyst "
                     "of the sacrum; large calcified mass dorsal to the S1 vertebral body; intraspinal and "
                     "paraspinal masses at L5 and S1.")
    size(b, "size-s1-mass", pat, mri, e_radic, l2, "large", m4)
    ms_img = study(b, "mri-spine-study", pat, e_radic, "MR", cig("mri-spine-multiregion"), mri,
                   "MRI of the cervical, thoracic and lumbar spine")
    discs = [finding(b, f"mri-disc-{name}", pat, "disc-protrusion", mri, "MR", e_radic, ms_img, bodySite=[site(region)])
             for name, region in (("cervical", CERVICAL), ("thoracic", THORACIC), ("lumbar", LUMBAR))]
    report(b, "mri-spine-report", pat, cig("mri-spine-multiregion"), mri, e_radic, ms_img, discs,
           "Intervertebral disc protrusions in the cervical, thoracic and lumbar spine.")

    calc_ext = [{"url": EXT + "calcinosis-aetiology", "valueCodeableConcept": cc(cig("dystrophic"))}]
    calc = condition(b, "calcinosis", "calcinosis-condition", pat, cc(cig("intraspinal-calcinosis")),
                     status="resolved", severity=cc(SEVERE),
                     extension=calc_ext + [{"url": EXT + "calcinosis-complication",
                                            "valueCodeableConcept": cc(cig("nerve-root-compression"))},
                                           {"url": "http://hl7.org/fhir/StructureDefinition/condition-dueTo",
                                            "valueReference": ref(ssc)}],
                     bodySite=[site(LUMBAR, ranges=(("L4", "L5"),), comp="vertebral-canal", laterality="left",
                                    lesions=(l1,)),
                               site(SACRUM, levels=("S1",), comp="vertebral-canal", lesions=(l2,))],
                     encounter=ref(e_radic), abatementDateTime=op, recordedDate=mri,
                     evidence=[{"detail": [ref(mri_rep), ref(xr_rep), ref(m1)]}],
                     note=[{"text": "Dystrophic calcinosis: serum calcium and phosphorus within normal limits. "
                                    "Severe systemic sclerosis/calcinosis."}])
    para = condition(b, "calcinosis-paraspinal", "calcinosis-condition", pat, cc(cig("paraspinal-calcinosis")),
                     status="resolved", extension=calc_ext + [{"url": "http://hl7.org/fhir/StructureDefinition/condition-dueTo",
                                                               "valueReference": ref(ssc)}],
                     bodySite=[site(SPINE, levels=("L5", "S1"), comp="paraspinal-soft-tissue", lesions=(l3,))],
                     encounter=ref(e_radic), abatementDateTime=op, recordedDate=mri,
                     evidence=[{"detail": [ref(mri_rep), ref(m5)]}],
                     note=[{"text": "Paraspinal part of the L5/S1 masses (MRI; removed intraspinal and paraspinal "
                                    "masses on histology)."}])
    severity(b, "severity-calcinosis", pat, mri, e_radic, calc, "Severe systemic sclerosis/calcinosis.")
    due = [{"url": "http://hl7.org/fhir/StructureDefinition/condition-dueTo", "valueReference": ref(calc)}]
    condition(b, "radiculopathy", "neurological-condition", pat, cc(sct("128196005", "Lumbar radiculopathy")),
              status="resolved", cat="encounter-diagnosis", extension=due, encounter=ref(e_radic),
              onsetDateTime="2012-03-05", abatementString="postoperatively", recordedDate=pres,
              bodySite=[site(LOWER_LIMB, levels=("L5",), laterality="left")],
              note=[{"text": "3 months of increasing left lower-limb radiculopathy (left L5), greater than on the "
                             "right; asymptomatic postoperatively."}])
    condition(b, "radiculopathy-right", "neurological-condition", pat, cc(sct("128196005", "Lumbar radiculopathy")),
              status="resolved", cat="encounter-diagnosis", extension=due, encounter=ref(e_radic),
              abatementString="postoperatively", recordedDate=pres,
              bodySite=[site(LOWER_LIMB, laterality="right")],
              note=[{"text": "Lesser right-sided radiculopathy (left greater than right); level not reported; "
                             "asymptomatic postoperatively."}])
    condition(b, "root-compression", "neurological-condition", pat, cc(cig("nerve-root-compression")),
              status="resolved", extension=due, encounter=ref(e_radic), recordedDate=mri, abatementDateTime=op,
              bodySite=[site(LUMBAR, levels=("L5",), laterality="left", text="left L5 nerve root")],
              evidence=[{"detail": [ref(m2)]}])

    for side in ("left", "right"):
        obs(b, f"lasegue-{side}", "lasegue-sign", pat, "exam", cc(cig("lasegue-sign")), pres, encounter=e_radic,
            valueCodeableConcept=cc(cig("positive")), bodySite=site(LOWER_LIMB, laterality=side),
            component=[{"code": cc(cig("lasegue-angle")), "valueQuantity": qty(30, "deg")}])
        for item in ("ankle-dorsiflexion", "ankle-plantar-flexion"):
            kw = {"note": [{"text": "Weaker on the left than on the right."}]} if side == "left" else {}
            neuro(b, f"{item}-{side}", pat, pres, e_radic, item, "decreased",
                  bodySite=site(LOWER_LIMB, laterality=side), **kw)
    neuro(b, "achilles", pat, pres, e_radic, "achilles-reflex", "decreased",
          bodySite=site(LOWER_LIMB, laterality="bilateral"))

    for key, code in (("calcium", lnc("17861-6", "Calcium [Mass/volume] in Serum or Plasma")),
                      ("phosphate", lnc("2777-1", "Phosphate [Mass/volume] in Serum or Plasma"))):
        lab(b, key, pat, pres, e_radic, code, dataAbsentReason=dar("unknown"),
            interpretation=[cc(coding(INTERP, "N", "Normal"))],
            note=[{"text": "The paper reports only that serum calcium and phosphorus in dystrophic calcinosis, "
                           "including this patient, are usually within normal limits; no value is given."}])

    lam = b.add("laminectomy", {"resourceType": "Procedure", "status": "completed",
                                "code": cc(cig("decompressive-laminectomy")), "subject": ref(pat),
                                "encounter": ref(e_op), "performedDateTime": op, "reasonReference": [ref(calc)],
                                "bodySite": [site(LUMBAR, ranges=(("L4", "L5"),), laterality="left",
                                                  comp="vertebral-canal", lesions=(l1,))]}, "calcinosis-procedure")
    exc = b.add("excision", {"resourceType": "Procedure", "status": "completed", "partOf": [ref(lam)],
                             "code": cc(cig("excision-calcified-mass")), "subject": ref(pat), "encounter": ref(e_op),
                             "performedDateTime": op, "reasonReference": [ref(calc), ref(para)],
                             "bodySite": [site(LUMBAR, ranges=(("L4", "L5"),), laterality="left",
                                               comp="vertebral-canal", lesions=(l1,))],
                             "outcome": cc(text="Postoperatively asymptomatic")}, "calcinosis-procedure")
    obs(b, "histopathology", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")), path,
        encounter=e_op, valueCodeableConcept=cc(cig("calcium-deposits-on-collagen")), partOf=[ref(exc)],
        focus=[ref(l1)],
        note=[{"text": "Removed intraspinal and paraspinal masses: collagen fibres covered by frank calcium deposits, "
                       "consistent with calcinosis."}])
    for key, when, enc, label in (("mri-6mo", fu6, e_fu6, "6 months"), ("mri-5y", fu5y, e_fu5y, "5 years")):
        img = study(b, f"{key}-study", pat, enc, "MR", lnc("24968-0", "Spine Lumbar MRI"), when,
                    f"Control MRI {label} after surgery")
        r = finding(b, f"{key}-recurrence", pat, "calcinosis-recurrence", when, "MR", enc, img, present=False,
                    focus=[ref(l1)], bodySite=[site(LUMBAR, ranges=(("L4", "L5"),), laterality="left",
                                                    comp="vertebral-canal", lesions=(l1,))])
        report(b, f"{key}-report", pat, lnc("24968-0", "Spine Lumbar MRI"), when, enc, img, [r],
               f"MRI {label} after surgery: no recurrence of calcification.")
    classification(b, "acr-eular-2013", dx)
    return b.bundle("case-b")


if __name__ == "__main__":
    write(ROOT / "examples" / "case-a.json", case_a())
    write(ROOT / "examples" / "case-b.json", case_b())
