"""Write examples/search-facts.json: one or more FHIR search queries per fact of seed-facts.md,
answered by the example files once they are loaded (`make run`). `expect_min` is the minimum
number of matches; `expect`, when present, is the exact number (cohort counts).

Queries use standard R4 parameters (one-level chains, _has, _tag) and the guide's
SearchParameters: calcinosis-kind, calcinosis-aetiology, spinal-level (a level inside a
recorded range matches), compartment, laterality, complication, lesion.
Usage: python scripts/gen_search_facts.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_cohort import PUBLISHED_P, best_split  # noqa: E402
from ig_builder import CIG, DAR, LNC, RXN, ROOT, SCT, UCUM, level, write  # noqa: E402

INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
A = "patient.identifier=http://hospital-a.example.org/fhir/sid/mrn|A-001"
B = "patient.identifier=http://hospital-b.example.org/fhir/sid/mrn|B-004"
SYN = f"_tag={CIG}|synthetic"
SID = "http://fhirsvc.org/fhir/calcinosis/sid/synthetic-cohort"


def c(code: str) -> str:
    return f"{CIG}|{code}"


def s(code: str) -> str:
    return f"{SCT}|{code}"


def lv(name: str) -> str:
    x = level(name)
    return f"{x['system']}|{x['code']}"


LEFT, RIGHT, BILAT = s("7771000"), s("24028007"), s("51440002")
SEVERE = s("24484000")
STUDY = f"{SID}|spinal-calcinosis-prevalence-2007"
SPLITS = {feat: best_split(p) for feat, p in PUBLISHED_P.items()}   # (ISC, PSC only, no PSC) with the feature
SSC, RA, SLE = s("89155008"), s("69896004"), s("55464009")


def has(code: str) -> str:
    return f"_has:Condition:patient:code={code}"


FACTS = [
    # Case A
    ("A.0 woman, 53 at admission (born 1952-09-15, admitted 2006-04-10)",
     "Patient?identifier=http://hospital-a.example.org/fhir/sid/mrn|A-001&gender=female&birthdate=1952-09-15", 1),
    ("A.1 diffuse cutaneous SSc, diagnosed 10 years before admission",
     f"Condition?{A}&code={s('128460000')}&asserted-date=1996", 1),
    ("A.2 2-week history of lower-limb weakness", f"Condition?{A}&code={s('26544005')}&onset-date=2006-03-27&laterality={BILAT}", 1),
    ("A.2 2-week history of lower-limb numbness", f"Condition?{A}&code={c('sensory-disturbance')}&onset-date=2006-03-27", 1),
    ("A.2 on admission (encounter)", f"Encounter?{A}&class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP&date=ge2006-04-10&date=lt2006-04-11", 1),
    ("A.3 daily Raynaud's phenomenon", f"Condition?{A}&code={s('266261006')}", 1),
    ("A.3 esophageal hypomotility", f"Condition?{A}&code={c('esophageal-hypomotility')}", 1),
    ("A.3 interstitial lung disease", f"Condition?{A}&code={s('233703007')}", 1),
    ("A.4 skin thickening over trunk, face and limbs", f"Condition?{A}&code={c('skin-thickening')}", 1),
    ("A.4 multiple fingertip ulcerations", f"Condition?{A}&code={c('digital-ulcer')}", 1),
    ("A.4 active digital ulcers (registry variable)",
     f"Observation?{A}&code={c('digital-ulcers-active')}&value-concept={c('present')}", 1),
    ("A.4 peripheral calcinosis cutis", f"Condition?{A}&calcinosis-kind={c('calcinosis-cutis')}&compartment={s('71966008')}", 1),
    ("A.4 telangiectasia", f"Condition?{A}&code={s('403516008')}", 1),
    ("A.5 MRC grade 2 in 4 muscles on both sides at admission",
     f"Observation?{A}&code={c('mrc-muscle-strength')}&date=2006-04-10", 8),
    ("A.5 left-side MRC grades at admission",
     f"Observation?{A}&code={c('mrc-muscle-strength')}&date=2006-04-10&laterality={LEFT}", 4),
    ("A.6 pain sensation decreased below T4/T5 dermatomes",
     f"Observation?{A}&code={c('sensory-level')}&sensory-level={c('dermatome-T4')}&value-concept={c('severely-decreased')}", 1),
    ("A.6 the T5 dermatome is a sensory level, not a vertebral one",
     f"Observation?{A}&sensory-level={c('dermatome-T5')}&spinal-level={lv('T5')}", 0, 0),
    ("A.6 position sense disturbed", f"Observation?{A}&code={c('position-sense')}&value-concept={c('disturbed')}", 1),
    ("A.6 vibration sense disturbed", f"Observation?{A}&code={c('vibration-sense')}&value-concept={c('disturbed')}", 1),
    ("A.6 hyperreflexia of the lower limbs", f"Observation?{A}&code={c('tendon-reflexes')}&value-concept={c('increased')}", 1),
    ("A.6 no extensor plantar response",
     f"Observation?{A}&code={c('extensor-plantar-response')}&value-concept={c('negative')}", 1),
    ("A.7 CT thoracic spine", f"DiagnosticReport?{A}&code={LNC}|24978-9", 1),
    ("A.7 CT imaging study behind the report", f"ImagingStudy?{A}&started=2006-04-11", 1),
    ("A.7 massive intraspinal and paraspinal calcinosis (lesion size)",
     f"Observation?{A}&code={c('calcinosis-lesion-size')}&value-concept={c('massive')}", 2),
    ("A.7 paraspinal calcinosis in the intervertebral space at T4-T5",
     f"Condition?{A}&calcinosis-kind={c('paraspinal-calcinosis')}&compartment={c('intervertebral-space')}&spinal-level={lv('T5')}", 1),
    ("A.7 intraspinal calcinosis causing cord compression",
     f"Condition?{A}&calcinosis-kind={c('intraspinal-calcinosis')}&complication={c('spinal-cord-compression')}", 1),
    ("A.7 tumoral calcinosis at the T5-T6 facet joints (level inside a range)",
     f"Condition?{A}&calcinosis-kind={c('tumoral-calcinosis')}&compartment={c('facet-joint')}&spinal-level={lv('T6')}", 1),
    ("A.7 tumoral calcinosis at the T7-T8 facet joints",
     f"Observation?{A}&code={c('tumoral-calcinosis')}&spinal-level={lv('T8')}&compartment={c('facet-joint')}", 1),
    ("A.7 significant spinal canal narrowing",
     f"Condition?{A}&complication={c('spinal-canal-narrowing')}", 1),
    ("A.7 spinal canal narrowing finding", f"Observation?{A}&code={c('spinal-canal-narrowing')}&value-concept={c('present')}", 1),
    ("A.7 disc bulging at T3-T4", f"Observation?{A}&code={c('disc-bulging')}&spinal-level={lv('T3')}", 1),
    ("A.7 disc bulging at T3-T4 and T4-T5", f"Observation?{A}&code={c('disc-bulging')}&spinal-level={lv('T4')}", 2),
    ("A.7 intraspinal calcinosis absent at cervical levels",
     f"Observation?{A}&code={c('intraspinal-calcinosis')}&value-concept={c('absent')}&spinal-level={lv('C4')}", 1),
    ("A.7 intraspinal calcinosis absent at lumbar levels",
     f"Observation?{A}&code={c('intraspinal-calcinosis')}&value-concept={c('absent')}&spinal-level={lv('L3')}", 1),
    ("A.7 tracked lesions (BodyStructure) at the facet joints",
     f"BodyStructure?{A}&calcinosis-kind={c('tumoral-calcinosis')}", 3),
    ("A.8 hand radiographs: soft-tissue calcinosis around the fingers",
     f"Observation?{A}&code={c('soft-tissue-calcinosis')}&laterality={BILAT}", 1),
    ("A.8 hand X-ray report", f"DiagnosticReport?{A}&code={LNC}|28582-5", 1),
    ("A.8 severe soft-tissue calcinosis (severity)",
     f"Observation?{A}&code={c('calcinosis-severity')}&value-concept={SEVERE}", 1),
    ("A.9 serum calcium 9.0 mg/dL", f"Observation?{A}&code={LNC}|17861-6&value-quantity=9|{UCUM}|mg/dL", 1),
    ("A.9 phosphorus 2.8 mg/dL", f"Observation?{A}&code={LNC}|2777-1&value-quantity=2.8|{UCUM}|mg/dL", 1),
    ("A.9 highly sensitive PTH 460 pg/mL", f"Observation?{A}&code={c('pth-highly-sensitive')}&value-quantity=460|{UCUM}|pg/mL", 1),
    ("A.9 intact PTH 25 pg/mL", f"Observation?{A}&code={LNC}|2731-8&value-quantity=25|{UCUM}|pg/mL", 1),
    ("A.9 ANA 1:2560 by immunofluorescence on HEp-2", f"Observation?{A}&code={LNC}|5048-4&value-quantity=2560", 1),
    ("A.9 ANA homogeneous pattern", f"Observation?{A}&code={LNC}|14611-8&value-concept={c('homogeneous')}", 1),
    ("A.9 ANA speckled pattern", f"Observation?{A}&code={LNC}|14611-8&value-concept={c('speckled')}", 1),
    ("A.9 anti-Scl-70 positive by ELISA", f"Observation?{A}&code={c('anti-scl-70')}&value-concept={INTERP}|POS", 1),
    ("A.9 other autoantibodies negative", f"Observation?{A}&code={c('other-autoantibodies')}&value-concept={INTERP}|NEG", 1),
    ("A.10 complete paraplegia one month after admission", f"Condition?{A}&code={c('paraplegia-complete')}&onset-date=2006-05-10", 1),
    ("A.10 one month after admission (encounter timed from admission)", f"Encounter?{A}&relative-to:missing=false&date=ge2006-05-10&date=lt2006-05-11", 1),
    ("A.10 urinary incontinence one month after admission", f"Condition?{A}&code={s('165232002')}&onset-date=2006-05-10", 1),
    ("A.11 surgery refused", f"Procedure?{A}&status=not-done&code={c('surgical-removal-calcinosis')}", 1),
    ("A.11 diltiazem 90 mg daily started", f"MedicationStatement?{A}&code={c('diltiazem')}&effective=ge2006-05-01", 1),
    ("A.12 MRC grades at three months", f"Observation?{A}&code={c('mrc-muscle-strength')}&date=2006-08-10", 8),
    ("A.12 urinary incontinence resolved", f"Condition?{A}&code={s('165232002')}&clinical-status=resolved&abatement-date=2006-08-10", 1),
    ("A.12 complete paraplegia no longer active", f"Condition?{A}&code={c('paraplegia-complete')}&clinical-status=resolved", 1),
    ("A.12 sensory function improved at three months",
     f"Observation?{A}&code={c('sensory-function')}&value-concept={c('improved')}&date=2006-08-10", 1),
    ("A.13 index patient of the cohort study", f"ResearchSubject?{A}&study:identifier={STUDY}", 1),
    ("A.14 ACR/EULAR 2013 classification: classified (score >= 9)",
     f"Observation?{A}&code={c('acr-eular-2013-ssc')}&score=ge9", 1),
    # Case B
    ("B.0 woman, 56 (born 1955-10-20, presented 2012-03-05)",
     "Patient?identifier=http://hospital-b.example.org/fhir/sid/mrn|B-004&gender=female&birthdate=1955-10-20", 1),
    ("B.1 systemic sclerosis", f"Condition?{B}&code={SSC}", 1),
    ("B.1 severe systemic sclerosis", f"Condition?{B}&code={SSC}&severity={SEVERE}", 1),
    ("B.1 first presentation at 56", f"Encounter?{B}&date=ge2012-01-09&date=lt2012-01-10", 1),
    ("B.1 skin biopsy: reduced dermal vessels", f"Observation?{B}&code={c('histopathology')}&value-concept={c('reduced-dermal-vessels')}", 1),
    ("B.1 skin biopsy: degenerated collagen/elastic fibres",
     f"Observation?{B}&code={c('histopathology')}&value-concept={c('degenerated-collagen-elastic-fibres')}", 1),
    ("B.1 swollen hand joints and cold extremities (evidence of the SSc Condition)", f"Condition?{B}&code={SSC}&evidence-detail:missing=false", 1),
    ("B.1 methotrexate prescribed", f"MedicationStatement?{B}&code={RXN}|6851", 1),
    ("B.2 3 months of left lower-limb radiculopathy", f"Condition?{B}&code={s('128196005')}&laterality={LEFT}&onset-date=2012-03-05", 1),
    ("B.2 lesser right-sided radiculopathy", f"Condition?{B}&code={s('128196005')}&laterality={RIGHT}", 1),
    ("B.3 Lasegue positive on both sides at 30 degrees",
     f"Observation?{B}&code={c('lasegue-sign')}&value-concept={c('positive')}&component-value-quantity=30|{UCUM}|deg", 2),
    ("B.3 weakness of ankle dorsiflexion", f"Observation?{B}&code={c('ankle-dorsiflexion')}&value-concept={c('decreased')}", 2),
    ("B.3 weakness of ankle plantar flexion, left worse", f"Observation?{B}&code={c('ankle-plantar-flexion')}&laterality={LEFT}", 1),
    ("B.3 decreased Achilles reflexes on both sides",
     f"Observation?{B}&code={c('achilles-reflex')}&value-concept={c('decreased')}&laterality={BILAT}", 1),
    ("B.4 X-ray: stenosis at L5 and S1", f"Observation?{B}&code={c('spinal-stenosis')}&spinal-level={lv('S1')}", 1),
    ("B.4 X-ray: ossification of the L3-L5 vertebral bodies", f"Observation?{B}&code={c('vertebral-body-ossification')}&spinal-level={lv('L3')}", 1),
    ("B.4 lumbosacral X-ray report (LOINC)", f"DiagnosticReport?{B}&code={LNC}|37340-7", 1),
    ("B.4 X-ray imaging study behind the report", f"ImagingStudy?{B}&started=2012-06-05", 1),
    ("B.5 MRI: intraspinal lesion at L4-L5 on the left",
     f"Condition?{B}&calcinosis-kind={c('intraspinal-calcinosis')}&spinal-level={lv('L4')}&laterality={LEFT}&compartment={s('61853006')}", 1),
    ("B.5 MRI: left L5 nerve root compression", f"Observation?{B}&code={c('nerve-root-compression')}&spinal-level={lv('L5')}&laterality={LEFT}", 1),
    ("B.5 MRI: perineural cyst of the sacrum", f"Observation?{B}&code={c('perineural-cyst')}&value-concept={c('present')}", 1),
    ("B.5 MRI: large calcified mass dorsal to S1", f"Observation?{B}&code={c('calcified-mass')}&spinal-level={lv('S1')}", 1),
    ("B.5 MRI: the S1 mass is large (lesion size)", f"Observation?{B}&code={c('calcinosis-lesion-size')}&value-concept={c('large')}", 1),
    ("B.5 MRI: paraspinal part of the L5/S1 masses",
     f"Condition?{B}&calcinosis-kind={c('paraspinal-calcinosis')}&spinal-level={lv('S1')}&compartment={c('paraspinal-soft-tissue')}", 1),
    ("B.5 MRI: disc protrusions in cervical, thoracic and lumbar spine", f"Observation?{B}&code={c('disc-protrusion')}", 3),
    ("B.6 left L4-L5 decompressive laminectomy",
     f"Procedure?{B}&code={c('decompressive-laminectomy')}&spinal-level={lv('L5')}&laterality={LEFT}", 1),
    ("B.6 excision of the calcified mass", f"Procedure?{B}&code={c('excision-calcified-mass')}&date=2012-06-18", 1),
    ("B.7 histopathology consistent with calcinosis",
     f"Observation?{B}&code={c('histopathology')}&value-concept={c('calcium-deposits-on-collagen')}", 1),
    ("B.8 MRI at 6 months: no recurrence",
     f"Observation?{B}&code={c('calcinosis-recurrence')}&value-concept={c('absent')}&date=2012-12-18", 1),
    ("B.8 MRI at 5 years: no recurrence",
     f"Observation?{B}&code={c('calcinosis-recurrence')}&value-concept={c('absent')}&date=2017-06-19", 1),
    ("B.8 follow-up points timed from surgery (6 months, 5 years)", f"Encounter?{B}&relative-to:missing=false", 2),
    ("B.8 postoperatively asymptomatic (radiculopathy resolved)", f"Condition?{B}&code={s('128196005')}&clinical-status=resolved", 1),
    ("B.8 methotrexate continued", f"MedicationStatement?{B}&code={RXN}|6851&status=active", 1),
    ("B.9 serum calcium within normal limits (no value reported)",
     f"Observation?{B}&code={LNC}|17861-6&data-absent-reason={DAR}|unknown&value-quantity:missing=true", 1),
    ("B.9 dystrophic calcinosis", f"Condition?{B}&calcinosis-aetiology={c('dystrophic')}", 1),
    # Cohort (exact counts)
    ("C.0 cohort study with published p-values and data-quality notes", f"ResearchStudy?identifier={SID}|spinal-calcinosis-prevalence-2007", 1, 1),
    ("C.0 41 SSc patients", f"Patient?{SYN}&{has(SSC)}", 41, 41),
    ("C.0 36 women among SSc patients", f"Patient?{SYN}&gender=female&{has(SSC)}", 36, 36),
    ("C.0 26 RA patients", f"Patient?{SYN}&{has(RA)}", 26, 26),
    ("C.0 14 SLE patients", f"Patient?{SYN}&{has(SLE)}", 14, 14),
    ("C.1 PSC in 24 of 41 SSc", f"Patient?{SYN}&{has(SSC)}&{has(c('paraspinal-calcinosis'))}", 24, 24),
    ("C.1 ISC in 12 of those 24", f"Patient?{SYN}&{has(c('paraspinal-calcinosis'))}&{has(c('intraspinal-calcinosis'))}&{has(SSC)}", 12, 12),
    ("C.2 RA: 1 of 26 with PSC", f"Patient?{SYN}&{has(RA)}&{has(c('paraspinal-calcinosis'))}", 1, 1),
    ("C.2 RA: none with ISC", f"Patient?{SYN}&{has(RA)}&{has(c('intraspinal-calcinosis'))}", 0, 0),
    ("C.2 SLE: none with PSC", f"Patient?{SYN}&{has(SLE)}&{has(c('paraspinal-calcinosis'))}", 0, 0),
    ("C.4 intracranial calcification SSc 27% (11/41)", f"Patient?{SYN}&{has(SSC)}&{has(c('intracranial-calcification'))}", 11, 11),
    ("C.4 intracranial calcification RA 23% (6/26)", f"Patient?{SYN}&{has(RA)}&{has(c('intracranial-calcification'))}", 6, 6),
    ("C.4 intracranial calcification SLE 21% (3/14)", f"Patient?{SYN}&{has(SLE)}&{has(c('intracranial-calcification'))}", 3, 3),
    ("C.5 calcinosis cutis among PSC patients", f"Patient?{SYN}&{has(c('paraspinal-calcinosis'))}&{has(c('calcinosis-cutis'))}",
     sum(SPLITS["calcinosis-cutis"][:2]), sum(SPLITS["calcinosis-cutis"][:2])),
    ("C.5 regular Raynaud's among ISC patients", f"Patient?{SYN}&{has(c('intraspinal-calcinosis'))}&{has(s('266261006'))}",
     SPLITS["raynaud-regular"][0], SPLITS["raynaud-regular"][0]),
    ("C.5 digital ulcers among PSC patients", f"Patient?{SYN}&{has(c('paraspinal-calcinosis'))}&{has(c('digital-ulcer'))}",
     sum(SPLITS["digital-ulcer"][:2]), sum(SPLITS["digital-ulcer"][:2])),
    ("C.5 digital ulcers ever (registry variable) in SSc", f"Observation?{SYN}&code={c('digital-ulcers-ever')}&value-concept={c('present')}",
     sum(SPLITS["digital-ulcer"]), sum(SPLITS["digital-ulcer"])),
    ("C.6 serum calcium recorded for SSc patients", f"Observation?{SYN}&code={LNC}|17861-6", 41, 41),
    ("C.6 cholesterol recorded for SSc patients", f"Observation?{SYN}&code={LNC}|2093-3", 41, 41),
    ("C.6 skin score (mRSS, 0-51) recorded for SSc patients", f"Observation?{SYN}&code={c('mrss')}&score=le51", 41, 41),
    ("C.6 extent of ILD recorded for SSc patients", f"Observation?{SYN}&code={c('ild-extent')}&value-quantity=ge0|{UCUM}|%", 41, 41),
    ("C.7 two PSC+ISC patients with serious lower-limb weakness",
     f"Patient?{SYN}&{has(c('intraspinal-calcinosis'))}&{has(s('26544005'))}", 2, 2),
]


def main() -> list[dict]:
    out = []
    for f in FACTS:
        item = {"fact": f[0], "query": f[1], "expect_min": f[2]}
        if len(f) > 3:
            item["expect"] = f[3]
        out.append(item)
    return out


if __name__ == "__main__":
    write(ROOT / "examples" / "search-facts.json", main())
