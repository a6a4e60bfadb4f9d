// Code systems and the guide's canonical. Only codes marked verified in terminology.md
// are used from external systems; everything else lives in the guide's own CodeSystem.
Alias: $SCT = http://snomed.info/sct
Alias: $LNC = http://loinc.org
Alias: $ICD10CM = http://hl7.org/fhir/sid/icd-10-cm
Alias: $ICD10 = http://hl7.org/fhir/sid/icd-10
Alias: $UCUM = http://unitsofmeasure.org
Alias: $RXN = http://www.nlm.nih.gov/research/umls/rxnorm
Alias: $CondClin = http://terminology.hl7.org/CodeSystem/condition-clinical
Alias: $CondVer = http://terminology.hl7.org/CodeSystem/condition-ver-status
Alias: $CondCat = http://terminology.hl7.org/CodeSystem/condition-category
Alias: $ObsCat = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $ObsInterp = http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation
Alias: $V2_0074 = http://terminology.hl7.org/CodeSystem/v2-0074
Alias: $CIG = http://fhirsvc.org/fhir/calcinosis/CodeSystem/calcinosis-ig
Alias: $EXT = http://fhirsvc.org/fhir/calcinosis/StructureDefinition
Alias: $assertedDate = http://hl7.org/fhir/StructureDefinition/condition-assertedDate
Alias: $dueTo = http://hl7.org/fhir/StructureDefinition/condition-dueTo
Alias: $DCM = http://dicom.nema.org/resources/ontology/DCM
Alias: $DAR = http://terminology.hl7.org/CodeSystem/data-absent-reason
Alias: $ActCode = http://terminology.hl7.org/CodeSystem/v3-ActCode
Alias: $bodySite = http://hl7.org/fhir/StructureDefinition/bodySite
Alias: $supportingInfo = http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo
Alias: $RelLoc = http://hl7.org/fhir/ValueSet/bodystructure-relative-location
