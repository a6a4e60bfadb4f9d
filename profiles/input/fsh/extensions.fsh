RuleSet: SiteContexts
* ^context[+].type = #element
* ^context[=].expression = "Condition.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Observation.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Procedure.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "BodyStructure"

Extension: Laterality
Id: laterality
Title: "Laterality"
Description: "Side of the body of a body site or lesion (mCODE LateralityQualifier pattern)."
* insert SiteContexts
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from LateralityVS (required)

Extension: SpinalLevel
Id: spinal-level
Title: "Spinal level"
Description: "One vertebral (or dermatome) level of a body site or lesion. Repeat for separate levels; use SpinalLevelRange for a contiguous range."
* insert SiteContexts
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from SpinalLevelVS (required)

Extension: SpinalLevelRange
Id: spinal-level-range
Title: "Spinal level range"
Description: "A contiguous range of vertebral levels, from the cranial (start) to the caudal (end) level inclusive, e.g. T4-T5 for a disc or facet level. A search on spinal-level matches every level inside the range."
* insert SiteContexts
* extension contains start 1..1 and end 1..1
* extension[start].value[x] only CodeableConcept
* extension[start].valueCodeableConcept 1..1
* extension[start].valueCodeableConcept from SpinalLevelVS (required)
* extension[end].value[x] only CodeableConcept
* extension[end].valueCodeableConcept 1..1
* extension[end].valueCodeableConcept from SpinalLevelVS (required)
* value[x] 0..0

Extension: Compartment
Id: compartment
Title: "Compartment"
Description: "Anatomical compartment of a calcinosis deposit: intervertebral space, facet joint, vertebral canal, paraspinal soft tissue, subcutaneous tissue, skin, brain."
* insert SiteContexts
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from CompartmentVS (required)

Extension: LesionReference
Id: lesion
Title: "Lesion"
Description: "The tracked calcinosis lesion (BodyStructure) at this body site, so one mass can be followed across studies."
* insert SiteContexts
* value[x] only Reference(CalcinosisLesion)
* valueReference 1..1

Extension: CalcinosisAetiology
Id: calcinosis-aetiology
Title: "Calcinosis aetiology"
Description: "Aetiological type of calcinosis (dystrophic, tumoral, metastatic, idiopathic, calciphylaxis)."
* ^context[+].type = #element
* ^context[=].expression = "Condition"
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from CalcinosisAetiologyVS (required)

Extension: CalcinosisComplication
Id: calcinosis-complication
Title: "Calcinosis complication"
Description: "A complication caused by this calcinosis (cord or root compression, canal narrowing)."
* ^context[+].type = #element
* ^context[=].expression = "Condition"
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from SpinalComplicationVS (required)

Extension: RaynaudFrequency
Id: raynaud-frequency
Title: "Raynaud's phenomenon frequency"
Description: "How often Raynaud's phenomenon episodes occur."
* ^context[+].type = #element
* ^context[=].expression = "Condition"
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from RaynaudFrequencyVS (required)

Extension: SearchRangeExpansion
Id: search-range-expansion
Title: "Search range expansion"
Description: "On a token SearchParameter: codes recorded as a range (an extension with start and end sub-extensions) are indexed as every code from start to end inclusive, in the order in which the given ValueSet lists its codes, so a search for a code inside a recorded range matches (a level inside a recorded spinal level range)."
* ^context[+].type = #element
* ^context[=].expression = "SearchParameter"
* extension contains rangeExtension 1..1 and order 1..1
* extension[rangeExtension] ^short = "URL of the range extension (with start and end sub-extensions)"
* extension[rangeExtension].value[x] only uri
* extension[rangeExtension].valueUri 1..1
* extension[order] ^short = "ValueSet whose enumerated codes give the order"
* extension[order].value[x] only canonical
* extension[order].valueCanonical 1..1
* value[x] 0..0
