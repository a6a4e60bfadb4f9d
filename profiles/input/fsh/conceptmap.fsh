Instance: icd10-to-calcinosis-ig
InstanceOf: ConceptMap
Usage: #definition
Title: "ICD-10 / ICD-10-CM to guide codes"
Description: "Maps ICD-10 and ICD-10-CM codes that hospitals send (M34.x, L94.2, ...) to the guide's condition codes. Equivalence is read from source to target (R4): wider = the target means more than the source, narrower = the target means less. An ICD 'unspecified' code is the general concept (equivalent); an 'other' code or a code for a part (one region, without gangrene) has a wider target. Only codes verified in the terminology research are used; unverified mapping choices (E83.59 for spinal calcinosis, R90.89 for intracranial calcification) are left out."
* url = "http://fhirsvc.org/fhir/calcinosis/ConceptMap/icd10-to-calcinosis-ig"
* version = "0.2.0"
* name = "ICD10ToCalcinosisIG"
* status = #draft
* experimental = false
* date = "2026-11-21"
* publisher = "fhirsvc project"
* group[0].source = "http://hl7.org/fhir/sid/icd-10-cm"
* group[=].target = "http://snomed.info/sct"
* group[=].element[0].code = #M34.9
* group[=].element[=].display = "Systemic sclerosis, unspecified"
* group[=].element[=].target[0].code = #89155008
* group[=].element[=].target[=].display = "Systemic sclerosis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M34.0
* group[=].element[=].display = "Progressive systemic sclerosis"
* group[=].element[=].target[0].code = #444133002
* group[=].element[=].target[=].display = "Progressive systemic sclerosis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M34.1
* group[=].element[=].display = "CR(E)ST syndrome"
* group[=].element[=].target[0].code = #31848007
* group[=].element[=].target[=].display = "CREST syndrome"
* group[=].element[=].target[=].equivalence = #narrower
* group[=].element[+].code = #M34.81
* group[=].element[=].display = "Systemic sclerosis with lung involvement"
* group[=].element[=].target[0].code = #196133001
* group[=].element[=].target[=].display = "Lung disease with systemic sclerosis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M34.89
* group[=].element[=].display = "Other systemic sclerosis"
* group[=].element[=].target[0].code = #89155008
* group[=].element[=].target[=].display = "Systemic sclerosis"
* group[=].element[=].target[=].equivalence = #wider
* group[=].element[+].code = #I73.00
* group[=].element[=].display = "Raynaud's syndrome without gangrene"
* group[=].element[=].target[0].code = #266261006
* group[=].element[=].target[=].display = "Raynaud's phenomenon"
* group[=].element[=].target[=].equivalence = #wider
* group[=].element[+].code = #J84.9
* group[=].element[=].display = "Interstitial pulmonary disease, unspecified"
* group[=].element[=].target[0].code = #233703007
* group[=].element[=].target[=].display = "Interstitial lung disease"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #R32
* group[=].element[=].display = "Unspecified urinary incontinence"
* group[=].element[=].target[0].code = #165232002
* group[=].element[=].target[=].display = "Urinary incontinence"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M54.16
* group[=].element[=].display = "Radiculopathy, lumbar region"
* group[=].element[=].target[0].code = #128196005
* group[=].element[=].target[=].display = "Lumbar radiculopathy"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M06.9
* group[=].element[=].display = "Rheumatoid arthritis, unspecified"
* group[=].element[=].target[0].code = #69896004
* group[=].element[=].target[=].display = "Rheumatoid arthritis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M32.9
* group[=].element[=].display = "Systemic lupus erythematosus, unspecified"
* group[=].element[=].target[0].code = #55464009
* group[=].element[=].target[=].display = "Systemic lupus erythematosus"
* group[=].element[=].target[=].equivalence = #equivalent
* group[+].source = "http://hl7.org/fhir/sid/icd-10-cm"
* group[=].target = "http://fhirsvc.org/fhir/calcinosis/CodeSystem/calcinosis-ig"
* group[=].element[0].code = #L94.2
* group[=].element[=].display = "Calcinosis cutis"
* group[=].element[=].target[0].code = #calcinosis-cutis
* group[=].element[=].target[=].display = "Calcinosis cutis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #K22.4
* group[=].element[=].display = "Dyskinesia of esophagus"
* group[=].element[=].target[0].code = #esophageal-hypomotility
* group[=].element[=].target[=].display = "Esophageal hypomotility"
* group[=].element[=].target[=].equivalence = #narrower
* group[=].element[+].code = #G95.20
* group[=].element[=].display = "Unspecified cord compression"
* group[=].element[=].target[0].code = #spinal-cord-compression
* group[=].element[=].target[=].display = "Spinal cord compression"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M48.04
* group[=].element[=].display = "Spinal stenosis, thoracic region"
* group[=].element[=].target[0].code = #spinal-canal-narrowing
* group[=].element[=].target[=].display = "Spinal canal narrowing"
* group[=].element[=].target[=].equivalence = #wider
* group[=].element[+].code = #M48.061
* group[=].element[=].display = "Spinal stenosis, lumbar region without neurogenic claudication"
* group[=].element[=].target[0].code = #spinal-canal-narrowing
* group[=].element[=].target[=].display = "Spinal canal narrowing"
* group[=].element[=].target[=].equivalence = #wider
* group[=].element[+].code = #G82.21
* group[=].element[=].display = "Paraplegia, complete"
* group[=].element[=].target[0].code = #paraplegia-complete
* group[=].element[=].target[=].display = "Complete paraplegia"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #G82.22
* group[=].element[=].display = "Paraplegia, incomplete"
* group[=].element[=].target[0].code = #paraplegia-incomplete
* group[=].element[=].target[=].display = "Incomplete paraplegia"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #G96.191
* group[=].element[=].display = "Perineural cyst"
* group[=].element[=].target[0].code = #perineural-cyst
* group[=].element[=].target[=].display = "Perineural (Tarlov) cyst"
* group[=].element[=].target[=].equivalence = #equivalent
* group[+].source = "http://hl7.org/fhir/sid/icd-10"
* group[=].target = "http://snomed.info/sct"
* group[=].element[0].code = #M34.9
* group[=].element[=].display = "Systemic sclerosis, unspecified"
* group[=].element[=].target[0].code = #89155008
* group[=].element[=].target[=].display = "Systemic sclerosis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M34.0
* group[=].element[=].display = "Progressive systemic sclerosis"
* group[=].element[=].target[0].code = #444133002
* group[=].element[=].target[=].display = "Progressive systemic sclerosis"
* group[=].element[=].target[=].equivalence = #equivalent
* group[=].element[+].code = #M34.1
* group[=].element[=].display = "CR(E)ST syndrome"
* group[=].element[=].target[0].code = #31848007
* group[=].element[=].target[=].display = "CREST syndrome"
* group[=].element[=].target[=].equivalence = #narrower
* group[+].source = "http://hl7.org/fhir/sid/icd-10"
* group[=].target = "http://fhirsvc.org/fhir/calcinosis/CodeSystem/calcinosis-ig"
* group[=].element[0].code = #L94.2
* group[=].element[=].display = "Calcinosis cutis"
* group[=].element[=].target[0].code = #calcinosis-cutis
* group[=].element[=].target[=].display = "Calcinosis cutis"
* group[=].element[=].target[=].equivalence = #equivalent
