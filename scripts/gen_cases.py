"""Generate examples/case-a.json (seed 001) and examples/case-b.json (seed 004).

Each is a transaction Bundle carrying every fact of seed-facts.md for its case. Dates are
derived from the text: case A is admitted 2006-04-10 (report published 2007; 53 years old);
case B presents 2012-03-05 (56 years old; MRI follow-up at 6 months and 5 years).
Usage: python scripts/gen_cases.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ig_builder import (EXT, ICD10CM, INTERP, RXN, ROOT, BundleBuilder, cc, cig, clinical,  # noqa: E402
                        condcat, coding, lnc, obscat, qty, ref, sct, site, verified, write)

LOWER_LIMB = sct("61685007", "Lower limb")
THORACIC = sct("122495006", "Thoracic spine")
LUMBAR = sct("122496007", "Lumbar spine")
CERVICAL = sct("122494005", "Cervical spine")
SACRUM = sct("54735007", "Sacrum")
FINGER = sct("7569003", "Finger")
HAND = sct("85562004", "Hand")
MUSCLES = ("tibialis-anterior", "gastrocnemius", "iliopsoas", "quadriceps")
DUE_TO = "http://hl7.org/fhir/StructureDefinition/condition-dueTo"
ASSERTED = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"


def patient(b: BundleBuilder, mrn_system: str, mrn: str, name: str, birth: str) -> str:
    return b.add("patient", {"resourceType": "Patient",
                             "identifier": [{"system": mrn_system, "value": mrn}],
                             "name": [{"text": name}], "gender": "female", "birthDate": birth},
                 "ssc-patient", if_none_exist=f"identifier={mrn_system}|{mrn}")


def condition(b, key, prof, pat, code, *, status="active", ver="confirmed", cat="problem-list-item", **fields):
    res = {"resourceType": "Condition"}
    ext = fields.pop("extension", None)
    if ext:
        res["extension"] = ext
    res.update({"clinicalStatus": clinical(status), "verificationStatus": verified(ver),
                "category": condcat(cat), "code": code, "subject": ref(pat)})
    res.update(fields)
    return b.add(key, res, prof)


def obs(b, key, prof, pat, cat, code, when, **fields):
    res = {"resourceType": "Observation", "status": "final", "category": obscat(cat), "code": code,
           "subject": ref(pat), "effectiveDateTime": when}
    if isinstance(fields.get("bodySite"), list):   # Observation.bodySite is 0..1 in R4
        (fields["bodySite"],) = fields["bodySite"]
    res.update(fields)
    return b.add(key, res, prof)


def finding(b, key, pat, code, when, modality, present=True, **fields):
    return obs(b, key, "imaging-finding", pat, "imaging", cc(cig(code)), when,
               valueCodeableConcept=cc(cig("present" if present else "absent")),
               method=cc(cig(modality)), **fields)


def report(b, key, pat, code, when, results, conclusion):
    return b.add(key, {"resourceType": "DiagnosticReport", "status": "final",
                       "category": [cc(coding("http://terminology.hl7.org/CodeSystem/v2-0074", "RAD", "Radiology"))],
                       "code": cc(code), "subject": ref(pat), "effectiveDateTime": when,
                       "result": [ref(r) for r in results], "conclusion": conclusion},
                 "calcinosis-imaging-report")


def lesion(b, key, pat, ident, kind, location, description, **kw):
    from ig_builder import site_extensions
    res = {"resourceType": "BodyStructure", "extension": site_extensions(**kw),
           "identifier": [{"system": "http://hospital.example.org/fhir/sid/calcinosis-lesion", "value": ident}],
           "active": True, "morphology": cc(cig(kind)), "location": cc(location),
           "description": description, "patient": ref(pat)}
    return b.add(key, res, "calcinosis-lesion")


def mrc(b, key, pat, when, muscle, side, grade):
    return obs(b, key, "muscle-strength", pat, "exam", cc(cig("mrc-muscle-strength")), when,
               valueInteger=grade, bodySite=site(cig(muscle), laterality=side))


def lab(b, key, pat, when, code, **fields):
    return obs(b, key, "ssc-lab", pat, "laboratory", cc(code), when, **fields)


def neuro(b, key, pat, when, code, value, **fields):
    return obs(b, key, "neuro-exam-finding", pat, "exam", cc(cig(code)), when,
               valueCodeableConcept=cc(cig(value)), **fields)


def case_a() -> dict:
    b = BundleBuilder("case-a")
    adm, ct, xr = "2006-04-10", "2006-04-11", "2006-04-12"
    para_date, dil_date, fu = "2006-05-10", "2006-05-12", "2006-08-12"
    pat = patient(b, "http://hospital-a.example.org/fhir/sid/mrn", "A-001", "Case A (seed 001)", "1952-09-15")

    ssc = condition(b, "ssc", "ssc-condition", pat, cc(sct("128460000", "Systemic sclerosis, diffuse"),
                                                       text="Diffuse cutaneous systemic sclerosis"),
                    extension=[{"url": ASSERTED, "valueDateTime": "1996-04"}], recordedDate=adm,
                    note=[{"text": "Diagnosed 10 years before admission (admission 2006-04-10)."}])

    # Lesions followed across studies
    l_para = lesion(b, "lesion-para-t4t5", pat, "A-L1", "paraspinal-calcinosis", THORACIC,
                    "Paraspinal calcinosis concentrated in the intervertebral space at T4-T5",
                    ranges=(("T4", "T5"),), comp="intervertebral-space", laterality="bilateral")
    l_intra = lesion(b, "lesion-intraspinal", pat, "A-L2", "intraspinal-calcinosis", THORACIC,
                     "Massive intraspinal calcinosis of the thoracic vertebral canal compressing the cord",
                     ranges=(("T3", "T8"),), comp="vertebral-canal")
    facets = {}
    for i, (s, e) in enumerate((("T4", "T5"), ("T5", "T6"), ("T7", "T8")), start=3):
        facets[(s, e)] = lesion(b, f"lesion-facet-{s}{e}".lower(), pat, f"A-L{i}", "tumoral-calcinosis", THORACIC,
                                f"Tumoral calcinosis at the {s}-{e} facet joints", ranges=((s, e),),
                                comp="facet-joint", laterality="bilateral")
    l_hand = lesion(b, "lesion-fingers", pat, "A-L6", "calcinosis-cutis", FINGER,
                    "Severe soft-tissue calcinosis around the fingers of both hands",
                    comp="subcutaneous", laterality="bilateral")

    # CT thoracic spine
    f = []
    f.append(finding(b, "ct-para", pat, "paraspinal-calcinosis", ct, "CT", focus=[ref(l_para)],
                     bodySite=[site(THORACIC, sct("243911007", "Level of T4/T5 intervertebral disc"),
                                    ranges=(("T4", "T5"),), comp="intervertebral-space", lesions=(l_para,))]))
    f.append(finding(b, "ct-intra", pat, "intraspinal-calcinosis", ct, "CT", focus=[ref(l_intra)],
                     bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal", lesions=(l_intra,),
                                    text="thoracic vertebral canal at the levels of the facet and disc findings")]))
    for (s, e), lref in facets.items():
        f.append(finding(b, f"ct-facet-{s}{e}".lower(), pat, "tumoral-calcinosis", ct, "CT", focus=[ref(lref)],
                         bodySite=[site(THORACIC, ranges=((s, e),), comp="facet-joint", laterality="bilateral",
                                        lesions=(lref,))]))
    f.append(finding(b, "ct-narrowing", pat, "spinal-canal-narrowing", ct, "CT",
                     focus=[ref(x) for x in facets.values()],
                     bodySite=[site(THORACIC, ranges=tuple(facets), comp="vertebral-canal")],
                     note=[{"text": "Significant narrowing of the spinal canal by the facet-joint tumoral calcinosis, "
                                    "in conjunction with disc bulging at T3-T4 and T4-T5."}]))
    f.append(finding(b, "ct-bulge-t3t4", pat, "disc-bulging", ct, "CT",
                     bodySite=[site(THORACIC, sct("243910008", "Level of T3/T4 intervertebral disc"),
                                    ranges=(("T3", "T4"),), comp="intervertebral-space")]))
    f.append(finding(b, "ct-bulge-t4t5", pat, "disc-bulging", ct, "CT",
                     bodySite=[site(THORACIC, sct("243911007", "Level of T4/T5 intervertebral disc"),
                                    ranges=(("T4", "T5"),), comp="intervertebral-space")]))
    f.append(finding(b, "ct-cord", pat, "spinal-cord-compression", ct, "CT", focus=[ref(l_intra)],
                     bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")]))
    f.append(finding(b, "ct-no-isc-cervical", pat, "intraspinal-calcinosis", ct, "CT", present=False,
                     bodySite=[site(CERVICAL, ranges=(("C1", "C7"),), comp="vertebral-canal")]))
    f.append(finding(b, "ct-no-isc-lumbar", pat, "intraspinal-calcinosis", ct, "CT", present=False,
                     bodySite=[site(LUMBAR, ranges=(("L1", "L5"),), comp="vertebral-canal")]))
    ct_rep = report(b, "ct-report", pat, lnc("24978-9", "Spine Thoracic CT"), ct, f,
                    "Paraspinal and intraspinal calcium deposits. Paraspinal calcinosis concentrated in the "
                    "intervertebral spaces at T4-T5; tumoral calcinosis at the T4-T5, T5-T6 and T7-T8 facet joints "
                    "causing significant spinal canal narrowing with disc bulging at T3-T4 and T4-T5; massive "
                    "intraspinal and paraspinal calcinosis causing cord compression. No intraspinal calcinosis at "
                    "cervical and lumbar levels.")
    hand = finding(b, "xr-hands", pat, "soft-tissue-calcinosis", xr, "XR", focus=[ref(l_hand)],
                   bodySite=[site(FINGER, HAND, laterality="bilateral", comp="subcutaneous", lesions=(l_hand,))],
                   note=[{"text": "Severe soft-tissue calcinosis around the fingers."}])
    xr_rep = report(b, "xr-report", pat, lnc("28582-5", "Hand X-ray"), xr, [hand],
                    "Roentgenograms of both hands: severe soft-tissue calcinosis around the fingers.")

    # Calcinosis conditions
    cutis = condition(b, "calcinosis-cutis", "calcinosis-condition", pat, cc(cig("calcinosis-cutis")),
                      extension=[{"url": DUE_TO, "valueReference": ref(ssc)}],
                      bodySite=[site(FINGER, laterality="bilateral", comp="subcutaneous", lesions=(l_hand,),
                                     text="peripheral (fingers)")],
                      recordedDate=adm, evidence=[{"detail": [ref(xr_rep)]}])
    para = condition(b, "calcinosis-paraspinal", "calcinosis-condition", pat, cc(cig("paraspinal-calcinosis")),
                     extension=[{"url": DUE_TO, "valueReference": ref(ssc)}],
                     bodySite=[site(THORACIC, sct("243911007", "Level of T4/T5 intervertebral disc"),
                                    ranges=(("T4", "T5"),), comp="intervertebral-space", lesions=(l_para,))],
                     recordedDate=ct, evidence=[{"detail": [ref(ct_rep), ref(f[0])]}])
    intra = condition(b, "calcinosis-intraspinal", "calcinosis-condition", pat, cc(cig("intraspinal-calcinosis")),
                      extension=[{"url": EXT + "calcinosis-complication",
                                  "valueCodeableConcept": cc(cig("spinal-cord-compression"))},
                                 {"url": DUE_TO, "valueReference": ref(ssc)}],
                      bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal", lesions=(l_intra,))],
                      recordedDate=ct, evidence=[{"detail": [ref(ct_rep), ref(f[1])]}],
                      note=[{"text": "Massive intraspinal and paraspinal calcinosis causing spinal cord compression."}])
    tumoral = condition(b, "calcinosis-tumoral", "calcinosis-condition", pat, cc(cig("tumoral-calcinosis")),
                        extension=[{"url": EXT + "calcinosis-complication",
                                    "valueCodeableConcept": cc(cig("spinal-canal-narrowing"))},
                                   {"url": EXT + "calcinosis-complication",
                                    "valueCodeableConcept": cc(cig("spinal-cord-compression"))},
                                   {"url": DUE_TO, "valueReference": ref(ssc)}],
                        bodySite=[site(THORACIC, ranges=((s, e),), comp="facet-joint", laterality="bilateral",
                                       lesions=(lr,)) for (s, e), lr in facets.items()],
                        recordedDate=ct, evidence=[{"detail": [ref(ct_rep)] + [ref(x) for x in f[2:5]]}])

    # Manifestations
    def manif(key, code, **kw):
        return condition(b, key, "ssc-manifestation", pat, cc(code), recordedDate=adm, **kw)
    manif("raynaud", sct("266261006", "Raynaud's phenomenon"),
          extension=[{"url": EXT + "raynaud-frequency", "valueCodeableConcept": cc(cig("raynaud-daily"))}])
    manif("esophageal-hypomotility", cig("esophageal-hypomotility"))
    manif("ild", sct("233703007", "Interstitial lung disease"))
    manif("skin-thickening", cig("skin-thickening"),
          bodySite=[cc(text="trunk"), cc(text="face"), cc(text="limbs")])
    manif("digital-ulcers", cig("digital-ulcer"), bodySite=[site(FINGER, laterality="bilateral", text="fingertips")],
          note=[{"text": "Multiple ulcerations of the fingertips."}])
    manif("telangiectasia", sct("403516008", "Scleroderma-associated telangiectasia"))

    # Presenting problem and neurological course
    due = [{"url": DUE_TO, "valueReference": ref(intra)}, {"url": DUE_TO, "valueReference": ref(tumoral)}]
    condition(b, "weakness", "neurological-condition", pat, cc(sct("26544005", "Muscle weakness")),
              cat="encounter-diagnosis", extension=due, onsetDateTime="2006-03-27", recordedDate=adm,
              bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "2-week history of rapidly increasing weakness of both lower limbs; improved "
                             "gradually over 3 months on diltiazem."}])
    condition(b, "numbness", "neurological-condition", pat, cc(cig("sensory-disturbance"), text="Numbness"),
              cat="encounter-diagnosis", extension=due, onsetDateTime="2006-03-27", recordedDate=adm,
              bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "2-week history of rapidly increasing numbness of both lower limbs."}])
    condition(b, "paraplegia", "neurological-condition", pat,
              cc(coding(ICD10CM, "G82.21", "Paraplegia, complete")), extension=due, onsetDateTime=para_date,
              recordedDate=para_date, bodySite=[site(LOWER_LIMB, laterality="bilateral")],
              note=[{"text": "Complete paraplegia 1 month after admission; motor function improved gradually over "
                             "the next 3 months."}])
    condition(b, "incontinence", "neurological-condition", pat, cc(sct("165232002", "Urinary incontinence")),
              status="resolved", extension=due, onsetDateTime=para_date, abatementDateTime=fu, recordedDate=para_date)
    condition(b, "cord-compression", "neurological-condition", pat, cc(cig("spinal-cord-compression")),
              extension=due, recordedDate=ct, evidence=[{"detail": [ref(ct_rep)]}],
              bodySite=[site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")])

    # Neurological examination on admission and at 3 months
    for m in MUSCLES:
        for side in ("left", "right"):
            mrc(b, f"mrc-adm-{m}-{side}", pat, adm, m, side, 2)
    for m, g in zip(MUSCLES, (4, 4, 3, 3)):
        for side in ("left", "right"):
            mrc(b, f"mrc-3mo-{m}-{side}", pat, fu, m, side, g)
    neuro(b, "sensory-level", pat, adm, "sensory-level", "severely-decreased", method=cc(cig("pain-sensation")),
          bodySite=site(ranges=(("T4", "T5"),), laterality="bilateral",
                        text="below the T4/T5 dermatomes"))
    neuro(b, "position-sense", pat, adm, "position-sense", "disturbed", method=cc(cig("position-sense")),
          bodySite=site(LOWER_LIMB, laterality="bilateral"))
    neuro(b, "vibration-sense", pat, adm, "vibration-sense", "disturbed", method=cc(cig("vibration-sense")),
          bodySite=site(LOWER_LIMB, laterality="bilateral"))
    neuro(b, "reflexes", pat, adm, "tendon-reflexes", "increased", bodySite=site(LOWER_LIMB, laterality="bilateral"),
          note=[{"text": "Hyperreflexia of the lower limbs."}])
    neuro(b, "plantar", pat, adm, "extensor-plantar-response", "negative",
          bodySite=site(LOWER_LIMB, laterality="bilateral"), note=[{"text": "No extensor toe sign."}])

    # Laboratory
    lab(b, "calcium", pat, adm, lnc("17861-6", "Calcium [Mass/volume] in Serum or Plasma"),
        valueQuantity=qty(9.0, "mg/dL"))
    lab(b, "phosphate", pat, adm, lnc("2777-1", "Phosphate [Mass/volume] in Serum or Plasma"),
        valueQuantity=qty(2.8, "mg/dL"))
    lab(b, "pth-hs", pat, adm, cig("pth-highly-sensitive"), valueQuantity=qty(460, "pg/mL"),
        interpretation=[cc(coding(INTERP, "N", "Normal"))],
        referenceRange=[{"low": qty(160, "pg/mL"), "high": qty(520, "pg/mL")}])
    lab(b, "pth-intact", pat, adm, lnc("2731-8", "Parathyrin.intact [Mass/volume] in Serum or Plasma"),
        valueQuantity=qty(25, "pg/mL"), interpretation=[cc(coding(INTERP, "N", "Normal"))],
        referenceRange=[{"low": qty(10, "pg/mL"), "high": qty(65, "pg/mL")}])
    lab(b, "ana-titre", pat, adm, lnc("5048-4", "Nuclear Ab [Titer] in Serum by Immunofluorescence"),
        valueQuantity=qty(2560, "titer", "{titer}"), interpretation=[cc(coding(INTERP, "POS", "Positive"))],
        method=cc(cig("iif-hep2")), note=[{"text": "Positive at 1:2560 (indirect immunofluorescence, HEp-2 cells)."}])
    for pattern in ("homogeneous", "speckled"):
        lab(b, f"ana-pattern-{pattern}", pat, adm, lnc("14611-8", "Nuclear Ab pattern [interpretation] in Serum"),
            valueCodeableConcept=cc(cig(pattern)), method=cc(cig("iif-hep2")))
    lab(b, "anti-scl-70", pat, adm, cig("anti-scl-70"), valueCodeableConcept=cc(coding(INTERP, "POS", "Positive")),
        method=cc(cig("elisa")))
    lab(b, "other-autoantibodies", pat, adm, cig("other-autoantibodies"),
        valueCodeableConcept=cc(coding(INTERP, "NEG", "Negative")))

    # Treatment
    b.add("surgery-refused", {"resourceType": "Procedure", "status": "not-done",
                              "statusReason": cc(cig("patient-refused")),
                              "code": cc(cig("surgical-removal-calcinosis")), "subject": ref(pat),
                              "bodySite": [site(THORACIC, ranges=(("T3", "T8"),), comp="vertebral-canal")],
                              "reasonReference": [ref(intra), ref(tumoral)],
                              "note": [{"text": "Surgery to remove the calcific masses was proposed; the patient refused."}]},
          "calcinosis-procedure")
    b.add("diltiazem", {"resourceType": "MedicationStatement", "status": "active",
                        "medicationCodeableConcept": cc(cig("diltiazem")), "subject": ref(pat),
                        "effectivePeriod": {"start": dil_date}, "dateAsserted": dil_date,
                        "reasonReference": [ref(intra), ref(para), ref(tumoral)],
                        "dosage": [{"text": "90 mg daily",
                                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                                    "doseAndRate": [{"doseQuantity": qty(90, "mg")}]}]},
          "ssc-medication-statement")
    return b.bundle("case-a")


def case_b() -> dict:
    b = BundleBuilder("case-b")
    dx, pres, xr, mri, op, path = "2010-06-15", "2012-03-05", "2012-03-06", "2012-03-08", "2012-03-20", "2012-03-23"
    fu6, fu5y = "2012-09-20", "2017-03-20"
    pat = patient(b, "http://hospital-b.example.org/fhir/sid/mrn", "B-004", "Case B (seed 004)", "1955-10-20")

    biopsy = b.add("skin-biopsy", {"resourceType": "Procedure", "status": "completed",
                                   "code": cc(sct("86273004", "Biopsy")), "subject": ref(pat),
                                   "performedDateTime": "2010-06-08",
                                   "bodySite": [cc(sct("39937001", "Skin"))]}, "calcinosis-procedure")
    h1 = obs(b, "skin-histo-vessels", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")),
             "2010-06-11", valueCodeableConcept=cc(cig("reduced-dermal-vessels")), partOf=[ref(biopsy)],
             bodySite=[cc(sct("39937001", "Skin"))])
    h2 = obs(b, "skin-histo-fibres", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")),
             "2010-06-11", valueCodeableConcept=cc(cig("degenerated-collagen-elastic-fibres")), partOf=[ref(biopsy)],
             bodySite=[cc(sct("39937001", "Skin"))])
    ssc = condition(b, "ssc", "ssc-condition", pat, cc(sct("89155008", "Systemic sclerosis")),
                    extension=[{"url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
                                "valueDateTime": dx}], recordedDate=dx,
                    evidence=[{"code": [cc(text="swelling of the joints of the hands"),
                                        cc(text="coldness of the extremities")]},
                              {"detail": [ref(h1), ref(h2)]}])
    b.add("methotrexate", {"resourceType": "MedicationStatement", "status": "active",
                           "medicationCodeableConcept": cc(coding(RXN, "6851", "methotrexate")), "subject": ref(pat),
                           "effectivePeriod": {"start": dx}, "dateAsserted": fu6, "reasonReference": [ref(ssc)],
                           "note": [{"text": "Prescribed at diagnosis; continued after surgery."}]},
          "ssc-medication-statement")

    l1 = lesion(b, "lesion-l4l5", pat, "B-L1", "intraspinal-calcinosis", LUMBAR,
                "Intraspinal (intracanalicular) calcified mass at L4-L5 on the left, compressing the left L5 root",
                ranges=(("L4", "L5"),), comp="vertebral-canal", laterality="left")
    l2 = lesion(b, "lesion-s1", pat, "B-L2", "intraspinal-calcinosis", SACRUM,
                "Large calcified mass dorsal to the S1 vertebral body", levels=("S1",), comp="vertebral-canal")

    # X-ray
    x1 = finding(b, "xr-stenosis", pat, "spinal-stenosis", xr, "XR",
                 bodySite=[site(LUMBAR, SACRUM, levels=("L5", "S1"), comp="vertebral-canal")])
    x2 = finding(b, "xr-ossification", pat, "vertebral-body-ossification", xr, "XR",
                 bodySite=[site(sct("3572006", "Vertebral body"), LUMBAR, levels=("L3", "L4", "L5"))])
    xr_rep = report(b, "xr-report", pat, sct("22791004", "X-ray of lumbosacral spine"), xr, [x1, x2],
                    "Stenosis at L5 and S1; ossification involving the L3, L4 and L5 vertebral bodies.")
    # MRI
    m1 = finding(b, "mri-intraspinal", pat, "intraspinal-calcinosis", mri, "MR", focus=[ref(l1)],
                 bodySite=[site(LUMBAR, sct("243923001", "Level of L4/L5 intervertebral disc"), ranges=(("L4", "L5"),),
                                comp="vertebral-canal", laterality="left", lesions=(l1,))])
    m2 = finding(b, "mri-root", pat, "nerve-root-compression", mri, "MR", focus=[ref(l1)],
                 bodySite=[site(LUMBAR, levels=("L5",), laterality="left", text="left L5 nerve root")])
    m3 = finding(b, "mri-cyst", pat, "perineural-cyst", mri, "MR", bodySite=[site(SACRUM)])
    m4 = finding(b, "mri-s1-mass", pat, "calcified-mass", mri, "MR", focus=[ref(l2)],
                 bodySite=[site(SACRUM, levels=("S1",), comp="vertebral-canal", lesions=(l2,),
                                text="dorsal to the S1 vertebral body")])
    mri_rep = report(b, "mri-report", pat, lnc("24968-0", "Spine Lumbar MRI"), mri, [m1, m2, m3, m4],
                     "Intraspinal lesion at L4-L5 on the left compressing the left L5 nerve root; perineural cyst "
                     "of the sacrum; large calcified mass dorsal to the S1 vertebral body.")
    discs = [finding(b, f"mri-disc-{name}", pat, "disc-protrusion", mri, "MR", bodySite=[site(region)])
             for name, region in (("cervical", CERVICAL), ("thoracic", THORACIC), ("lumbar", LUMBAR))]
    report(b, "mri-spine-report", pat, cig("mri-spine-multiregion"), mri, discs,
           "Intervertebral disc protrusions in the cervical, thoracic and lumbar spine.")

    calc = condition(b, "calcinosis", "calcinosis-condition", pat, cc(cig("intraspinal-calcinosis")),
                     status="resolved",
                     extension=[{"url": EXT + "calcinosis-aetiology", "valueCodeableConcept": cc(cig("dystrophic"))},
                                {"url": EXT + "calcinosis-complication",
                                 "valueCodeableConcept": cc(cig("nerve-root-compression"))},
                                {"url": "http://hl7.org/fhir/StructureDefinition/condition-dueTo",
                                 "valueReference": ref(ssc)}],
                     bodySite=[site(LUMBAR, sct("243923001", "Level of L4/L5 intervertebral disc"),
                                    ranges=(("L4", "L5"),), comp="vertebral-canal", laterality="left", lesions=(l1,)),
                               site(SACRUM, levels=("S1",), comp="vertebral-canal", lesions=(l2,))],
                     onsetDateTime="2011-12-05", abatementDateTime=op, recordedDate=mri,
                     evidence=[{"detail": [ref(mri_rep), ref(xr_rep), ref(m1)]}],
                     note=[{"text": "Dystrophic calcinosis: serum calcium and phosphorus within normal limits."}])
    due = [{"url": "http://hl7.org/fhir/StructureDefinition/condition-dueTo", "valueReference": ref(calc)}]
    condition(b, "radiculopathy", "neurological-condition", pat, cc(sct("128196005", "Lumbar radiculopathy")),
              status="resolved", cat="encounter-diagnosis", extension=due, onsetDateTime="2011-12-05",
              abatementDateTime="2012-03-27", recordedDate=pres,
              bodySite=[site(LOWER_LIMB, levels=("L5",), laterality="left")],
              note=[{"text": "3 months of increasing left lower-limb radiculopathy (left L5); asymptomatic "
                             "postoperatively."}])
    condition(b, "root-compression", "neurological-condition", pat, cc(cig("nerve-root-compression")),
              status="resolved", extension=due, recordedDate=mri, abatementDateTime=op,
              bodySite=[site(LUMBAR, levels=("L5",), laterality="left", text="left L5 nerve root")],
              evidence=[{"detail": [ref(m2)]}])

    for side in ("left", "right"):
        obs(b, f"lasegue-{side}", "lasegue-sign", pat, "exam", cc(cig("lasegue-sign")), pres,
            valueCodeableConcept=cc(cig("positive")), bodySite=site(LOWER_LIMB, laterality=side),
            component=[{"code": cc(cig("lasegue-angle")), "valueQuantity": qty(30, "deg")}])
        for item in ("ankle-dorsiflexion", "ankle-plantar-flexion"):
            kw = {"note": [{"text": "Weaker on the left than on the right."}]} if side == "left" else {}
            neuro(b, f"{item}-{side}", pat, pres, item, "decreased", bodySite=site(LOWER_LIMB, laterality=side), **kw)
    neuro(b, "achilles", pat, pres, "achilles-reflex", "decreased", bodySite=site(LOWER_LIMB, laterality="bilateral"))

    for key, code in (("calcium", lnc("17861-6", "Calcium [Mass/volume] in Serum or Plasma")),
                      ("phosphate", lnc("2777-1", "Phosphate [Mass/volume] in Serum or Plasma"))):
        lab(b, key, pat, xr, code, interpretation=[cc(coding(INTERP, "N", "Normal"))],
            note=[{"text": "Within normal limits (value not reported)."}])

    lam = b.add("laminectomy", {"resourceType": "Procedure", "status": "completed",
                                "code": cc(cig("decompressive-laminectomy")), "subject": ref(pat),
                                "performedDateTime": op, "reasonReference": [ref(calc)],
                                "bodySite": [site(LUMBAR, ranges=(("L4", "L5"),), laterality="left",
                                                  comp="vertebral-canal", lesions=(l1,))]}, "calcinosis-procedure")
    exc = b.add("excision", {"resourceType": "Procedure", "status": "completed", "partOf": [ref(lam)],
                             "code": cc(cig("excision-calcified-mass")), "subject": ref(pat),
                             "performedDateTime": op, "reasonReference": [ref(calc)],
                             "bodySite": [site(LUMBAR, ranges=(("L4", "L5"),), laterality="left",
                                               comp="vertebral-canal", lesions=(l1,))],
                             "outcome": cc(text="Postoperatively asymptomatic")}, "calcinosis-procedure")
    obs(b, "histopathology", "histopathology-finding", pat, "laboratory", cc(cig("histopathology")), path,
        valueCodeableConcept=cc(cig("calcium-deposits-on-collagen")), partOf=[ref(exc)], focus=[ref(l1)],
        note=[{"text": "Collagen fibres covered by frank calcium deposits, consistent with calcinosis."}])
    for key, when, label in (("mri-6mo", fu6, "6 months"), ("mri-5y", fu5y, "5 years")):
        r = finding(b, f"{key}-recurrence", pat, "calcinosis-recurrence", when, "MR", present=False, focus=[ref(l1)],
                    bodySite=[site(LUMBAR, ranges=(("L4", "L5"),), laterality="left", comp="vertebral-canal",
                                   lesions=(l1,))])
        report(b, f"{key}-report", pat, lnc("24968-0", "Spine Lumbar MRI"), when, [r],
               f"MRI {label} after surgery: no recurrence of calcification.")
    return b.bundle("case-b")


if __name__ == "__main__":
    write(ROOT / "examples" / "case-a.json", case_a())
    write(ROOT / "examples" / "case-b.json", case_b())
