RuleSet: SiteContexts
* ^context[+].type = #element
* ^context[=].expression = "Condition.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Observation.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Procedure.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "BodyStructure"

// Laterality sits on coded body sites (Condition / Observation / Procedure.bodySite). Its value
// set is HL7's structure-laterality-vs (left, right, bilateral, midline), the binding of the
// extensions pack's observation-structureLaterality; that extension is not in R4 core and the
// pack cannot be a dependency of this offline build, so the guide keeps its own extension with
// the same codes. Tracked lesions (BodyStructure) use the core element locationQualifier.
RuleSet: CodedSiteContexts
* ^context[+].type = #element
* ^context[=].expression = "Condition.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Observation.bodySite"
* ^context[+].type = #element
* ^context[=].expression = "Procedure.bodySite"

Extension: Laterality
Id: laterality
Title: "Laterality"
Description: "Side of the body of a coded body site (mCODE LateralityQualifier pattern; codes of HL7 structure-laterality-vs, the binding of observation-structureLaterality). A tracked lesion (BodyStructure) states its side in locationQualifier instead."
* insert CodedSiteContexts
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from LateralityVS (required)

Extension: SpinalLevel
Id: spinal-level
Title: "Spinal level"
Description: "One vertebral level of a body site or lesion. Repeat for separate levels; use SpinalLevelRange for a contiguous range. Vertebral levels are anatomy: a sensory (dermatome) level is a different concept and goes in the sensory-level extension."
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

Extension: SensoryLevel
Id: sensory-level
Title: "Sensory level (dermatome)"
Description: "The dermatome at (below) which a sensory modality is impaired: a neurological level, not a vertebral level (the T4 dermatome is not the T4 vertebra). Repeat when the source names two adjacent dermatomes (\"below the fourth and fifth thoracic dermatomes\")."
* ^context[+].type = #element
* ^context[=].expression = "Observation"
* value[x] only CodeableConcept
* valueCodeableConcept 1..1
* valueCodeableConcept from DermatomeVS (required)

Extension: RelativeTiming
Id: relative-timing
Title: "Relative timing"
Description: "When an encounter took place relative to another one, as the source states it (\"one month after admission\", \"three months later\", \"5 years later\"). Case reports give intervals, not dates: the interval is the fact; any period on the Encounter is derived from an anchor date and marked synthetic."
* ^context[+].type = #element
* ^context[=].expression = "Encounter"
* extension contains anchor 1..1 and offset 1..1
* extension[anchor] ^short = "The encounter the offset counts from"
* extension[anchor].value[x] only Reference(CalcinosisEncounter)
* extension[anchor].valueReference 1..1
* extension[offset] ^short = "Time after the anchor (UCUM d, wk, mo, a)"
* extension[offset].value[x] only Duration
* extension[offset].valueDuration 1..1
* extension[offset].valueDuration obeys cig-ucum-1
* value[x] 0..0
