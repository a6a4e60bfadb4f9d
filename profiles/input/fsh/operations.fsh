// Operations the server defines beyond R4 core (answered by fhirsvc; see the README).

RuleSet: OP(code, name)
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/{code}"
* version = "0.2.0"
* name = "{name}"
* status = #active
* kind = #operation
* experimental = false
* date = "2026-12-02"
* publisher = "fhirsvc project"
* code = #{code}
* affectsState = false

Instance: ssc-classification
InstanceOf: OperationDefinition
Usage: #definition
* insert OP(ssc-classification, SscClassification)
* title = "ACR/EULAR 2013 classification of systemic sclerosis"
* description = "Scores the ACR/EULAR 2013 SSc classification criteria from the patient's stored Conditions and Observations and returns the derived Observation (profile ssc-classification): the total as valueInteger, each item as a component, the evidence in derivedFrom (Observations) and workflow-supportingInfo (Conditions), classified when the total is 9 or more. With persist=true the Observation is stored through the normal validated write path (and the operation then changes state)."
* resource[0] = #Patient
* system = false
* type = false
* instance = true
* parameter[0].name = #persist
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #boolean
* parameter[=].documentation = "Store the derived Observation (default false)."
* parameter[+].name = #effective
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #dateTime
* parameter[=].documentation = "The Observation's effectiveDateTime (default: the latest date among the evidence)."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Observation
* parameter[=].documentation = "The derived classification Observation."

Instance: cohort-statistics
InstanceOf: OperationDefinition
Usage: #definition
* insert OP(cohort-statistics, CohortStatistics)
* title = "Cohort statistics beside the published values"
* description = "From the stored ResearchStudy, ResearchSubjects and Conditions: counts per diagnosis group, the prevalence of each finding with an exact 95% confidence interval, and two-sided Fisher exact p-values for SSc against each comparator and for the within-SSc associations, each beside the published value with a reproduces verdict. Answers application/json, text/csv or image/svg+xml (Accept or _format); not a FHIR resource."
* system = true
* type = false
* instance = false
* parameter[0].name = #study
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #string
* parameter[=].documentation = "The ResearchStudy identifier as system|value, when several studies are stored."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The statistics in the negotiated media type."
