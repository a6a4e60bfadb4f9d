// Each extension slice also fixes its url child: the type profile already implies it, and
// validators that match slices by the url element (not by the type profile) need it spelled out.
RuleSet: SliceUrl(path, slice, url)
* {path}.extension[{slice}].url = "{url}" (exactly)

RuleSet: RootSliceUrl(slice, url)
* extension[{slice}].url = "{url}" (exactly)

RuleSet: SiteExtensions(path)
* {path}.extension contains
    Laterality named laterality 0..1 MS and
    SpinalLevel named spinalLevel 0..* MS and
    SpinalLevelRange named spinalLevelRange 0..* MS and
    Compartment named compartment 0..1 MS and
    $bodySite named lesion 0..* MS
* {path}.extension[lesion] ^short = "The tracked lesion (BodyStructure) at this site (core extension bodySite)"
* {path}.extension[lesion].value[x] only Reference(CalcinosisLesion)
* insert SliceUrl({path}, laterality, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/laterality)
* insert SliceUrl({path}, spinalLevel, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level)
* insert SliceUrl({path}, spinalLevelRange, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range)
* insert SliceUrl({path}, compartment, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment)
* insert SliceUrl({path}, lesion, http://hl7.org/fhir/StructureDefinition/bodySite)

RuleSet: SubjectPatient
* subject 1..1 MS
* subject only Reference(SScPatient)

Invariant: cig-level-1
Description: "A spinal (paraspinal or intraspinal) calcinosis must record its spinal level or level range on a body site."
Expression: "code.coding.where(system = 'http://fhirsvc.org/fhir/calcinosis/CodeSystem/calcinosis-ig' and (code = 'paraspinal-calcinosis' or code = 'intraspinal-calcinosis')).exists() implies bodySite.extension.where(url = 'http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level' or url = 'http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').exists()"
Severity: #error

Invariant: cig-level-2
Description: "A lesion in a spinal compartment (vertebral canal, intervertebral space, facet joint, paraspinal soft tissue) must record its spinal level or level range."
Expression: "extension.where(url = 'http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment').value.coding.where(code = '61853006' or code = 'intervertebral-space' or code = 'facet-joint' or code = 'paraspinal-soft-tissue').exists() implies extension.where(url = 'http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level' or url = 'http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range').exists()"
Severity: #error

Invariant: cig-ucum-1
Description: "A quantity must carry a UCUM unit (system http://unitsofmeasure.org and a code)."
Expression: "system = 'http://unitsofmeasure.org' and code.exists()"
Severity: #error

Invariant: cig-value-1
Description: "A laboratory result has a value, a data-absent reason, or an interpretation (e.g. 'within normal limits')."
Expression: "value.exists() or dataAbsentReason.exists() or interpretation.exists()"
Severity: #error

Profile: SScPatient
Parent: Patient
Id: ssc-patient
Title: "SSc Patient"
Description: "A patient in SSc care or an SSc / calcinosis registry."
* identifier 1..* MS
* identifier.system 1..1 MS
* identifier.value 1..1 MS
* gender 1..1 MS
* birthDate 1..1 MS

Profile: SScCondition
Parent: Condition
Id: ssc-condition
Title: "Systemic Sclerosis Condition"
Description: "Systemic sclerosis with its subtype (diffuse / limited cutaneous, sine scleroderma), onset (first non-Raynaud symptom) and diagnosis dates (condition-assertedDate), and verification status."
* extension contains $assertedDate named diagnosisDate 0..1 MS
* insert RootSliceUrl(diagnosisDate, http://hl7.org/fhir/StructureDefinition/condition-assertedDate)
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* category 1..* MS
* severity MS
* severity from SeverityVS (required)
* code 1..1 MS
* code from SScConditionVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* onset[x] MS
* onset[x] ^short = "Disease onset: the first non-Raynaud symptom (EUSTAR definition of disease duration)"
* onset[x] ^definition = "Disease onset as registries define it: the date (or age) of the first symptom of SSc other than Raynaud's phenomenon. Raynaud's onset belongs on the Raynaud's phenomenon manifestation. Left out when the source does not give it (the diagnosis date goes in diagnosisDate)."
* recordedDate MS
* evidence MS

Profile: ComparatorDiseaseCondition
Parent: Condition
Id: comparator-disease-condition
Title: "Comparator Disease Condition"
Description: "Rheumatoid arthritis or systemic lupus erythematosus in a comparator patient of a calcinosis study."
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* code 1..1 MS
* code from ComparatorDiseaseVS (required)
* insert SubjectPatient

Profile: CalcinosisCondition
Parent: Condition
Id: calcinosis-condition
Title: "Calcinosis Condition"
Description: "Calcinosis of a given kind (cutis, paraspinal, intraspinal, tumoral, intracranial) and aetiology, with body site, spinal level or level range, compartment and laterality on each body site, complications, and evidence pointing to imaging."
* obeys cig-level-1
* extension contains
    CalcinosisAetiology named aetiology 0..1 MS and
    CalcinosisComplication named complication 0..* MS and
    $dueTo named dueTo 0..* MS
* insert RootSliceUrl(aetiology, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/calcinosis-aetiology)
* insert RootSliceUrl(complication, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/calcinosis-complication)
* insert RootSliceUrl(dueTo, http://hl7.org/fhir/StructureDefinition/condition-dueTo)
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* severity MS
* severity from SeverityVS (required)
* code 1..1 MS
* code from CalcinosisKindVS (required)
* bodySite 1..* MS
* insert SiteExtensions(bodySite)
* insert SubjectPatient
* onset[x] MS
* evidence MS
* evidence.detail MS
* evidence.detail only Reference(CalcinosisImagingReport or ImagingFinding)

Profile: SScManifestationCondition
Parent: Condition
Id: ssc-manifestation
Title: "SSc Manifestation"
Description: "A vascular or organ manifestation of SSc: Raynaud's phenomenon (with frequency), digital ulcers, interstitial lung disease, oesophageal hypomotility, telangiectasia, skin thickening (body sites)."
* extension contains RaynaudFrequency named raynaudFrequency 0..1 MS
* insert RootSliceUrl(raynaudFrequency, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/raynaud-frequency)
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* code 1..1 MS
* code from ManifestationVS (required)
* bodySite MS
* insert SiteExtensions(bodySite)
* insert SubjectPatient

Profile: NeurologicalCondition
Parent: Condition
Id: neurological-condition
Title: "Neurological Condition"
Description: "A neurological problem in spinal calcinosis (weakness, sensory disturbance, paraplegia, urinary incontinence, radiculopathy, cord / root compression), with site, level and side, and the calcinosis it is due to."
* extension contains $dueTo named dueTo 0..* MS
* insert RootSliceUrl(dueTo, http://hl7.org/fhir/StructureDefinition/condition-dueTo)
* severity MS
* severity from SeverityVS (required)
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* clinicalStatus 1..1 MS
* verificationStatus 1..1 MS
* code 1..1 MS
* code from NeurologicalConditionVS (required)
* bodySite MS
* insert SiteExtensions(bodySite)
* insert SubjectPatient
* onset[x] MS
* abatement[x] MS

Profile: CalcinosisLesion
Parent: BodyStructure
Id: calcinosis-lesion
Title: "Calcinosis Lesion"
Description: "One calcinosis mass or deposit with its own identity, so it can be followed across imaging studies (mCODE Tumor pattern): identifier, location (region), locationQualifier (side and relative position, core R4 binding), morphology (kind of calcinosis); Condition, Observation and Procedure body sites point to it with the core extension bodySite, and findings about it name it in focus."
* obeys cig-level-2
* extension contains
    SpinalLevel named spinalLevel 0..* MS and
    SpinalLevelRange named spinalLevelRange 0..* MS and
    Compartment named compartment 1..1 MS
* insert RootSliceUrl(spinalLevel, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level)
* insert RootSliceUrl(spinalLevelRange, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/spinal-level-range)
* insert RootSliceUrl(compartment, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/compartment)
* locationQualifier MS
* locationQualifier from LesionLocationQualifierVS (required)
* identifier 1..* MS
* identifier.system 1..1
* identifier.value 1..1
* morphology 1..1 MS
* morphology from CalcinosisKindVS (required)
* location 1..1 MS
* patient MS
* patient only Reference(SScPatient)

Profile: CalcinosisImagingReport
Parent: DiagnosticReport
Id: calcinosis-imaging-report
Title: "Calcinosis Imaging Report"
Description: "One imaging study (CT, MRI, X-ray) with the calcinosis and spine findings it showed."
* category 1..* MS
* category = $V2_0074#RAD
* code MS
* code from ImagingStudyVS (required)
* subject 1..1 MS
* subject only Reference(SScPatient)
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* imagingStudy MS
* imagingStudy only Reference(CalcinosisImagingStudy)
* effective[x] 1..1 MS
* effective[x] only dateTime
* result 1..* MS
* result only Reference(ImagingFinding)
* conclusion MS

Profile: ImagingFinding
Parent: Observation
Id: imaging-finding
Title: "Imaging Finding"
Description: "One finding on an imaging study (calcinosis, canal narrowing, disc bulging, ...), with modality (DICOM), levels, compartment, side, and the tracked lesion in focus."
* category 1..1 MS
* category = $ObsCat#imaging
* code MS
* code from ImagingFindingVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* derivedFrom MS
* derivedFrom only Reference(CalcinosisImagingStudy)
* focus MS
* focus only Reference(CalcinosisLesion)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from PresenceVS (required)
* method 1..1 MS
* method from ImagingModalityVS (required)
* bodySite MS
* insert SiteExtensions(bodySite)

Profile: MuscleStrength
Parent: Observation
Id: muscle-strength
Title: "Muscle Strength (MRC)"
Description: "Strength of one muscle on one side on the MRC scale: an integer 0-5, or a coded MRC grade when the examiner used the modifiers 4- / 4+ that the integer cannot carry."
* category 1..1 MS
* category = $ObsCat#exam
* code = $CIG#mrc-muscle-strength
* insert SubjectPatient
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* value[x] only integer or CodeableConcept
* valueInteger ^minValueInteger = 0
* valueInteger ^maxValueInteger = 5
* valueCodeableConcept from MRCGradeVS (required)
* bodySite 1..1 MS
* bodySite from MuscleVS (required)
* insert SiteExtensions(bodySite)
* bodySite.extension[laterality] 1..1

Profile: NeuroExamFinding
Parent: Observation
Id: neuro-exam-finding
Title: "Neurological Examination Finding"
Description: "A sensory, reflex or muscle-group item of the neurological examination: sensory level (dermatome in the sensory-level extension, modality in method), position and vibration sense, sensory function over time, tendon and Achilles reflexes (hyper / decreased), extensor plantar response, ankle strength, with side."
* category 1..1 MS
* category = $ObsCat#exam
* extension contains SensoryLevel named sensoryLevel 0..* MS
* insert RootSliceUrl(sensoryLevel, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/sensory-level)
* code MS
* code from NeuroExamVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from NeuroFindingVS (required)
* method MS
* method from SensoryModalityVS (required)
* bodySite MS
* insert SiteExtensions(bodySite)

Profile: LasegueSign
Parent: Observation
Id: lasegue-sign
Title: "Lasegue Sign"
Description: "Straight-leg-raise (Lasegue) test on one side: positive / negative, with the angle in degrees (UCUM deg)."
* category 1..1 MS
* category = $ObsCat#exam
* code = $CIG#lasegue-sign
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from NeuroFindingVS (required)
* bodySite 1..1 MS
* insert SiteExtensions(bodySite)
* bodySite.extension[laterality] 1..1
* component MS
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #open
* component contains angle 0..1 MS
* component[angle].code = $CIG#lasegue-angle
* component[angle].value[x] only Quantity
* component[angle].valueQuantity 1..1
* component[angle].valueQuantity.system 1..1
* component[angle].valueQuantity.system = $UCUM
* component[angle].valueQuantity.code 1..1
* component[angle].valueQuantity.code = #deg

Profile: SScLabObservation
Parent: Observation
Id: ssc-lab
Title: "SSc Laboratory Result"
Description: "Serum calcium, phosphate, PTH (intact and highly sensitive, with reference ranges), ANA titre and pattern (HEp-2 immunofluorescence), anti-Scl-70, anti-centromere, anti-RNA polymerase III, other autoantibodies, cholesterol. Quantities require UCUM units; a titre is a Quantity in {titer}. A result the source only summarises (\"within normal limits\") has no value: dataAbsentReason plus the interpretation."
* obeys cig-value-1
* category 1..1 MS
* category = $ObsCat#laboratory
* code MS
* code from LabTestVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* dataAbsentReason MS
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] MS
* value[x] only Quantity or CodeableConcept
* valueQuantity obeys cig-ucum-1
* valueCodeableConcept from LabCodedResultVS (required)
* interpretation MS
* method MS
* method from LabMethodVS (required)
* referenceRange MS
* referenceRange.low.system = $UCUM
* referenceRange.high.system = $UCUM

Profile: HistopathologyFinding
Parent: Observation
Id: histopathology-finding
Title: "Histopathology Finding"
Description: "A microscopic finding of a tissue specimen (calcinosis mass, skin biopsy)."
* category 1..1 MS
* category = $ObsCat#laboratory
* code = $CIG#histopathology
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from HistopathologyFindingVS (required)
* bodySite MS
* insert SiteExtensions(bodySite)
* focus MS
* focus only Reference(CalcinosisLesion)
* partOf MS
* partOf only Reference(CalcinosisProcedure)

Profile: CalcinosisProcedure
Parent: Procedure
Id: calcinosis-procedure
Title: "Calcinosis Procedure"
Description: "Surgery for calcinosis (decompressive laminectomy, excision of a calcified mass) or a biopsy, with level and side; also a proposed surgery that was not done (status not-done, statusReason)."
* status MS
* statusReason MS
* statusReason from ProcedureNotDoneReasonVS (required)
* code 1..1 MS
* code from CalcinosisProcedureVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* performed[x] MS
* bodySite MS
* insert SiteExtensions(bodySite)
* reasonReference MS
* reasonReference only Reference(CalcinosisCondition or SScCondition or NeurologicalCondition)

Profile: SScMedicationStatement
Parent: MedicationStatement
Id: ssc-medication-statement
Title: "SSc Medication Statement"
Description: "A medication taken for SSc or calcinosis (diltiazem with dose, methotrexate); doses use UCUM."
* medication[x] only CodeableConcept
* medicationCodeableConcept 1..1 MS
* medicationCodeableConcept from SScMedicationVS (extensible)
* subject only Reference(SScPatient)
* subject MS
* effective[x] MS
* dosage MS
* dosage.doseAndRate.doseQuantity obeys cig-ucum-1
* reasonReference only Reference(CalcinosisCondition or SScCondition or SScManifestationCondition)

Profile: CohortStudy
Parent: ResearchStudy
Id: cohort-study
Title: "Calcinosis Cohort Study"
Description: "A study of calcinosis prevalence; published counts and p-values (with data-quality notes) are kept in note."
* identifier 1..* MS
* title 1..1 MS
* status MS
* arm 1..* MS
* arm.type 1..1 MS
* arm.type from CohortGroupVS (required)
* note MS

Profile: CohortSubject
Parent: ResearchSubject
Id: cohort-subject
Title: "Calcinosis Cohort Subject"
Description: "A patient in a calcinosis cohort study, with the study group (assignedArm). The index patient of a study (the case that prompted it) is a subject in the study's index-case arm; the study reference may be logical (identifier), since a case report and a cohort arrive in different transactions."
* study only Reference(CohortStudy)
* individual only Reference(SScPatient)
* assignedArm 1..1 MS

Profile: CalcinosisCaseBundle
Parent: Bundle
Id: calcinosis-case-bundle
Title: "Calcinosis Case Bundle"
Description: "One patient's calcinosis case as sent by a hospital (or a synthetic population): a transaction of POST / PUT entries with urn:uuid full URLs."
* type = #transaction
* entry 1..* MS
* entry.fullUrl 1..1 MS
* entry.resource 1..1 MS
* entry.request 1..1 MS

Profile: CalcinosisEncounter
Parent: Encounter
Id: calcinosis-encounter
Title: "Calcinosis Encounter"
Description: "A point of care in a calcinosis case: admission, a later point of the same stay, a follow-up visit. A case report gives intervals (\"one month after admission\", \"three months later\"): relativeTiming carries the interval as the fact; the period, when given, is derived from an anchor date (synthetic in the examples)."
* extension contains RelativeTiming named relativeTiming 0..1 MS
* insert RootSliceUrl(relativeTiming, http://fhirsvc.org/fhir/calcinosis/StructureDefinition/relative-timing)
* status MS
* class MS
* type MS
* subject 1..1 MS
* subject only Reference(SScPatient)
* period MS
* partOf MS
* partOf only Reference(CalcinosisEncounter)

Profile: CalcinosisImagingStudy
Parent: ImagingStudy
Id: calcinosis-imaging-study
Title: "Calcinosis Imaging Study"
Description: "The imaging study (CT, MR, DX) behind an imaging report: DICOM modality, the study's LOINC code, start and encounter. Study and series UIDs are left out when the source does not give them."
* status MS
* modality 1..* MS
* modality from ImagingModalityVS (required)
* subject 1..1 MS
* subject only Reference(SScPatient)
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* started 1..1 MS
* procedureCode 1..1 MS
* procedureCode from ImagingStudyVS (required)
* description MS

Profile: CalcinosisLesionSize
Parent: Observation
Id: calcinosis-lesion-size
Title: "Calcinosis Lesion Size"
Description: "Size of one tracked lesion (mCODE TumorSize pattern): a measured size in UCUM length units, or the qualitative size the source gives (\"massive\", \"large\")."
* category 1..1 MS
* category = $ObsCat#imaging
* code = $CIG#calcinosis-lesion-size
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* focus 1..1 MS
* focus only Reference(CalcinosisLesion)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept or Quantity
* valueCodeableConcept from QualitativeSizeVS (required)
* valueQuantity obeys cig-ucum-1
* derivedFrom MS
* derivedFrom only Reference(CalcinosisImagingStudy or ImagingFinding)

Profile: CalcinosisSeverity
Parent: Observation
Id: calcinosis-severity
Title: "Calcinosis Severity"
Description: "Severity of calcinosis (or of SSc with calcinosis) as the source grades it (\"severe soft-tissue calcinosis\"), optionally about one tracked lesion (focus)."
* category 1..1 MS
* category = $ObsCat#exam
* code = $CIG#calcinosis-severity
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* focus MS
* focus only Reference(CalcinosisLesion or CalcinosisCondition or SScCondition)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from SeverityVS (required)

Invariant: cig-mrss-1
Description: "When all 17 sites are scored, the total is the sum of the site scores."
Expression: "component.count() = 17 implies value.ofType(integer) = component.value.ofType(integer).aggregate($this + $total, 0)"
Severity: #error

Invariant: cig-mrss-2
Description: "Each of the 17 mRSS sites is scored at most once."
Expression: "component.code.coding.code.isDistinct()"
Severity: #error

Profile: ModifiedRodnanSkinScore
Parent: Observation
Id: mrss
Title: "Modified Rodnan Skin Score"
Description: "Modified Rodnan skin score (mRSS): skin thickness by palpation at 17 sites (face, anterior chest, abdomen, and right and left fingers, hands, forearms, upper arms, thighs, legs, feet), each 0 (normal) to 3 (severe); total 0-51. No LOINC or SNOMED CT code was verified, so the code and the site codes are the guide's."
* obeys cig-mrss-1 and cig-mrss-2
* category 1..1 MS
* category = $ObsCat#exam
* code = $CIG#mrss
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only integer
* valueInteger ^minValueInteger = 0
* valueInteger ^maxValueInteger = 51
* component MS
* component.code from MrssSiteVS (required)
* component.value[x] 1..1
* component.value[x] only integer
* component.valueInteger ^minValueInteger = 0
* component.valueInteger ^maxValueInteger = 3

Profile: DigitalUlcerStatus
Parent: Observation
Id: digital-ulcer-status
Title: "Digital Ulcer Status"
Description: "EUSTAR registry variables 'digital ulcers ever' and 'active digital ulcers' (at this visit): present or absent."
* category 1..1 MS
* category = $ObsCat#exam
* code MS
* code from DigitalUlcerVariableVS (required)
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from PresenceVS (required)

Profile: ILDExtent
Parent: Observation
Id: ild-extent
Title: "Interstitial Lung Disease Extent"
Description: "Extent of interstitial lung disease on HRCT: the percentage of lung involved (UCUM %) and/or the limited / extensive category (20% threshold of the Goh staging)."
* category 1..1 MS
* category = $ObsCat#imaging
* code = $CIG#ild-extent
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only Quantity or CodeableConcept
* valueQuantity obeys cig-ucum-1
* valueQuantity.code = #"%"
* valueCodeableConcept from ILDExtentCategoryVS (required)

Profile: SScClassification
Parent: Observation
Id: ssc-classification
Title: "ACR/EULAR 2013 SSc Classification"
Description: "The 2013 ACR/EULAR classification criteria for systemic sclerosis computed from recorded data: total score (sum of the highest weight in each of the 8 items), one component per item with the points it scored (or a data-absent reason when nothing about it is recorded), the verdict in interpretation (classified when the total is 9 or more), the evidence in derivedFrom (Observations) and in the core extension workflow-supportingInfo (Conditions, which derivedFrom cannot reference in R4)."
* extension contains $supportingInfo named evidenceCondition 0..* MS
* insert RootSliceUrl(evidenceCondition, http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo)
* extension[evidenceCondition].value[x] only Reference(Condition)
* category 1..1 MS
* category = $ObsCat#survey
* code = $CIG#acr-eular-2013-ssc
* insert SubjectPatient
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only integer
* valueInteger ^minValueInteger = 0
* valueInteger ^maxValueInteger = 28
* interpretation 1..1 MS
* interpretation from ClassificationResultVS (required)
* derivedFrom MS
* component 1..* MS
* component.code from ClassificationItemVS (required)
* component.value[x] only integer
* component.valueInteger ^minValueInteger = 0
* component.valueInteger ^maxValueInteger = 9
* component.dataAbsentReason MS

Profile: LabReport
Parent: DiagnosticReport
Id: lab-report
Title: "Laboratory Report"
Description: "A laboratory order or panel with its results, as a laboratory system sends it (HL7 v2 ORU^R01: one OBR with its OBX): the SSc laboratory results of this guide (ssc-lab) or other laboratory Observations, each referenced from result."
* category 1..* MS
* category = $V2_0074#LAB
* code 1..1 MS
* status MS
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] MS
* issued MS
* result MS
* result only Reference(Observation)
* specimen MS

Profile: EncounterDiagnosis
Parent: Condition
Id: encounter-diagnosis
Title: "Encounter Diagnosis"
Description: "A diagnosis recorded for a visit by the sending system (HL7 v2 DG1), coded as sent. Unlike the registry's condition profiles it does not require clinical or verification status: a DG1 does not state them, and they are not invented on conversion."
* category 1..* MS
* category = $CondCat#encounter-diagnosis
* code 1..1 MS
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* onset[x] MS
* recordedDate MS

Invariant: cig-rad-1
Description: "An imaging text report is a radiology report: one of its categories is v2-0074 RAD (others, such as the sender's own section code, may follow)."
Expression: "category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/v2-0074' and code = 'RAD').exists()"
Severity: #error

Profile: ImagingTextReport
Parent: DiagnosticReport
Id: imaging-text-report
Title: "Imaging Text Report"
Description: "An imaging report as a radiology system sends it (HL7 v2 ORU^R01 with the report text in OBX): the study and the report's narrative (conclusion, presentedForm), before its findings are abstracted into the ImagingFinding Observations of a Calcinosis Imaging Report."
* obeys cig-rad-1
* category 1..* MS
* code 1..1 MS
* code from ImagingStudyVS (required)
* status MS
* insert SubjectPatient
* encounter MS
* encounter only Reference(CalcinosisEncounter)
* effective[x] 1..1 MS
* effective[x] only dateTime
* issued MS
* conclusion 1..1 MS
* presentedForm MS
