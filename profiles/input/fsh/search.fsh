// Search parameters registries ask for. Expressions are FHIRPath that fhirpathpy evaluates
// with the R4 model (extension('url').value resolves the value[x] choice).

RuleSet: SP(code, name, type)
* url = "http://fhirsvc.org/fhir/calcinosis/SearchParameter/{code}"
* version = "0.2.0"
* name = "{name}"
* status = #active
* experimental = false
* date = "2026-11-21"
* publisher = "fhirsvc project"
* code = #{code}
* type = #{type}
* xpathUsage = #normal

Instance: calcinosis-kind
InstanceOf: SearchParameter
Usage: #definition
* insert SP(calcinosis-kind, CalcinosisKind, token)
* description = "Kind of calcinosis (cutis, paraspinal, intraspinal, tumoral, intracranial) of a Calcinosis Condition or of a tracked lesion (morphology)."
* base[0] = #Condition
* base[+] = #BodyStructure
* expression = "Condition.code | BodyStructure.morphology"

Instance: calcinosis-aetiology
InstanceOf: SearchParameter
Usage: #definition
* insert SP(calcinosis-aetiology, CalcinosisAetiology, token)
* description = "Aetiology of calcinosis (dystrophic, tumoral, metastatic, idiopathic, calciphylaxis)."
* base[0] = #Condition
* expression = "Condition.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/calcinosis-aetiology').value"

Instance: spinal-level
InstanceOf: SearchParameter
Usage: #definition
* insert SP(spinal-level, SpinalLevel, token)
* extension[0].url = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/search-range-expansion"
* extension[0].extension[0].url = "rangeExtension"
* extension[0].extension[0].valueUri = "http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range"
* extension[0].extension[1].url = "order"
* extension[0].extension[1].valueCanonical = "http://fhirsvc.org/fhir/calcinosis/ValueSet/spinal-level"
* description = "Spinal level of a calcinosis, lesion, finding or procedure. The expression yields the recorded single levels and the start and end of recorded ranges; the index also stores every level between start and end (order of ValueSet spinal-level, declared by the search-range-expansion extension), so a level inside a recorded range matches."
* base[0] = #Condition
* base[+] = #Observation
* base[+] = #Procedure
* base[+] = #BodyStructure
* expression = "Condition.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level').value | Condition.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').extension.value | Observation.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level').value | Observation.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').extension.value | Procedure.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level').value | Procedure.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').extension.value | BodyStructure.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level').value | BodyStructure.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').extension.value"

Instance: compartment
InstanceOf: SearchParameter
Usage: #definition
* insert SP(compartment, Compartment, token)
* description = "Compartment of a calcinosis deposit (intervertebral space, facet joint, vertebral canal, paraspinal soft tissue, subcutaneous tissue, skin, brain)."
* base[0] = #Condition
* base[+] = #Observation
* base[+] = #Procedure
* base[+] = #BodyStructure
* expression = "Condition.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment').value | Observation.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment').value | Procedure.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment').value | BodyStructure.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment').value"

Instance: laterality
InstanceOf: SearchParameter
Usage: #definition
* insert SP(laterality, Laterality, token)
* description = "Side of a coded body site (laterality extension: left, right, bilateral, midline) or of a tracked lesion (BodyStructure.locationQualifier: unilateral left / right, bilateral, ...)."
* base[0] = #Condition
* base[+] = #Observation
* base[+] = #Procedure
* base[+] = #BodyStructure
* expression = "Condition.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/laterality').value | Observation.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/laterality').value | Procedure.bodySite.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/laterality').value | BodyStructure.locationQualifier"

Instance: complication
InstanceOf: SearchParameter
Usage: #definition
* insert SP(complication, Complication, token)
* description = "Complication recorded on a Calcinosis Condition (cord or root compression, canal narrowing)."
* base[0] = #Condition
* expression = "Condition.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/calcinosis-complication').value"

Instance: lesion
InstanceOf: SearchParameter
Usage: #definition
* insert SP(lesion, Lesion, reference)
* description = "The tracked calcinosis lesion (BodyStructure) a finding is about (focus) or a body site points to (core extension bodySite), to follow one mass across studies."
* base[0] = #Observation
* base[+] = #Condition
* base[+] = #Procedure
* expression = "Observation.focus | Observation.bodySite.extension('http://hl7.org/fhir/StructureDefinition/bodySite').value | Condition.bodySite.extension('http://hl7.org/fhir/StructureDefinition/bodySite').value | Procedure.bodySite.extension('http://hl7.org/fhir/StructureDefinition/bodySite').value"
* target[0] = #BodyStructure

Instance: asserted-date
InstanceOf: SearchParameter
Usage: #definition
* insert SP(asserted-date, AssertedDate, date)
* description = "Date the condition was first asserted (for SSc: the diagnosis date), from the core extension condition-assertedDate, which R4 defines without a search parameter."
* base[0] = #Condition
* expression = "Condition.extension('http://hl7.org/fhir/StructureDefinition/condition-assertedDate').value"

Instance: sensory-level
InstanceOf: SearchParameter
Usage: #definition
* insert SP(sensory-level, SensoryLevel, token)
* description = "Dermatome (sensory level) of a neurological examination finding: a neurological level, searched apart from the vertebral spinal-level."
* base[0] = #Observation
* expression = "Observation.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/sensory-level').value"

Instance: score
InstanceOf: SearchParameter
Usage: #definition
* insert SP(score, Score, number)
* description = "Integer total of a scored assessment: modified Rodnan skin score (0-51), ACR/EULAR 2013 SSc classification points (0-28). Core value-quantity does not reach integer values."
* base[0] = #Observation
* expression = "Observation.value.ofType(integer)"

Instance: relative-to
InstanceOf: SearchParameter
Usage: #definition
* insert SP(relative-to, RelativeTo, reference)
* description = "The encounter another encounter is timed from (relativeTiming anchor): the follow-up points of a case."
* base[0] = #Encounter
* expression = "Encounter.extension('http://fhirsvc.org/fhir/calcinosis/StructureDefinition/relative-timing').extension('anchor').value"
* target[0] = #Encounter
