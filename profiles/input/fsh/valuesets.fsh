// All value sets bound required or extensible are extensional (enumerated codes) so that a
// validator can check membership without a terminology server.

RuleSet: VSMeta
* ^experimental = false
* ^status = #draft

ValueSet: SScConditionVS
Id: ssc-condition
Title: "Systemic sclerosis and subtypes"
Description: "Systemic sclerosis and its subtypes (diffuse cutaneous, limited cutaneous, sine scleroderma, CREST)."
* insert VSMeta
* $SCT#89155008 "Systemic sclerosis"
* $SCT#128460000 "Systemic sclerosis, diffuse"
* $SCT#298285004 "Systemic sclerosis with limited cutaneous involvement"
* $SCT#299276009 "Limited systemic sclerosis"
* $SCT#128461001 "Systemic sclerosis sine scleroderma"
* $SCT#31848007 "CREST syndrome"
* $SCT#444133002 "Progressive systemic sclerosis"

ValueSet: ComparatorDiseaseVS
Id: comparator-disease
Title: "Comparator connective tissue diseases"
Description: "Connective tissue diseases used as comparator groups in calcinosis studies."
* insert VSMeta
* $SCT#69896004 "Rheumatoid arthritis"
* $SCT#55464009 "Systemic lupus erythematosus"

ValueSet: CalcinosisKindVS
Id: calcinosis-kind
Title: "Calcinosis kind"
Description: "Kinds of calcinosis by site: cutis, paraspinal, intraspinal, tumoral, intracranial."
* insert VSMeta
* $CIG#calcinosis-cutis "Calcinosis cutis"
* $CIG#paraspinal-calcinosis "Paraspinal calcinosis"
* $CIG#intraspinal-calcinosis "Intraspinal calcinosis"
* $CIG#tumoral-calcinosis "Tumoral calcinosis"
* $CIG#intracranial-calcification "Intracranial calcification"

ValueSet: CalcinosisAetiologyVS
Id: calcinosis-aetiology
Title: "Calcinosis aetiology"
Description: "Dystrophic, tumoral, metastatic, idiopathic calcinosis and calciphylaxis."
* insert VSMeta
* $CIG#dystrophic "Dystrophic calcinosis"
* $CIG#tumoral "Tumoral (tumorous) calcinosis"
* $CIG#metastatic "Metastatic calcinosis"
* $CIG#idiopathic "Idiopathic calcinosis"
* $CIG#calciphylaxis "Calciphylaxis"

ValueSet: CompartmentVS
Id: calcinosis-compartment
Title: "Calcinosis compartment"
Description: "Anatomical compartment of a calcinosis deposit."
* insert VSMeta
* $SCT#61853006 "Vertebral canal"
* $CIG#intervertebral-space "Intervertebral space"
* $CIG#facet-joint "Facet (zygapophyseal) joint"
* $CIG#paraspinal-soft-tissue "Paraspinal soft tissue"
* $SCT#71966008 "Subcutaneous tissue"
* $SCT#39937001 "Skin"
* $SCT#12738006 "Brain"

ValueSet: LateralityVS
Id: laterality
Title: "Laterality"
Description: "Left, right, bilateral, midline (the qualifier family used by mCODE and the FHIR extensions pack)."
* insert VSMeta
* $SCT#7771000 "Left"
* $SCT#24028007 "Right"
* $SCT#51440002 "Right and left"
* $SCT#399488007 "Midline"

ValueSet: SpinalLevelVS
Id: spinal-level
Title: "Spinal level"
Description: "Vertebral levels C1-S5 in cranio-caudal order (SNOMED CT vertebra codes for C1-L5, guide codes for S1-S5): anatomy only. Sensory (dermatome) levels are DermatomeVS. guide.json lists the order used to expand level ranges."
* insert VSMeta
* $SCT#14806007 "C1"
* $SCT#39976000 "C2"
* $SCT#113205007 "C3"
* $SCT#5329002 "C4"
* $SCT#36978003 "C5"
* $SCT#36054005 "C6"
* $SCT#87391001 "C7"
* $SCT#64864005 "T1"
* $SCT#53733008 "T2"
* $SCT#1626008 "T3"
* $SCT#73071006 "T4"
* $SCT#56401006 "T5"
* $SCT#45296009 "T6"
* $SCT#62487009 "T7"
* $SCT#11068009 "T8"
* $SCT#82687006 "T9"
* $SCT#7610001 "T10"
* $SCT#12989004 "T11"
* $SCT#23215003 "T12"
* $SCT#66794005 "L1"
* $SCT#14293000 "L2"
* $SCT#36470004 "L3"
* $SCT#11994002 "L4"
* $SCT#49668003 "L5"
* $CIG#S1 "S1"
* $CIG#S2 "S2"
* $CIG#S3 "S3"
* $CIG#S4 "S4"
* $CIG#S5 "S5"

ValueSet: SpinalComplicationVS
Id: spinal-complication
Title: "Spinal complication of calcinosis"
Description: "Complications of spinal calcinosis: cord or root compression, canal narrowing."
* insert VSMeta
* $CIG#spinal-cord-compression "Spinal cord compression"
* $CIG#nerve-root-compression "Nerve root compression"
* $CIG#spinal-canal-narrowing "Spinal canal narrowing"

ValueSet: ManifestationVS
Id: ssc-manifestation
Title: "SSc vascular and organ manifestations"
Description: "Raynaud's phenomenon, digital ulcers, interstitial lung disease, pulmonary arterial hypertension, oesophageal hypomotility, telangiectasia, skin thickening, and the remaining ACR/EULAR 2013 skin and nailfold items."
* insert VSMeta
* $SCT#266261006 "Raynaud's phenomenon"
* $CIG#digital-ulcer "Digital ulcer"
* $SCT#233703007 "Interstitial lung disease"
* $SCT#196133001 "Lung disease with systemic sclerosis"
* $CIG#esophageal-hypomotility "Esophageal hypomotility"
* $SCT#403516008 "Scleroderma-associated telangiectasia"
* $CIG#skin-thickening "Skin thickening"
* $CIG#skin-thickening-proximal-to-mcp "Skin thickening of the fingers of both hands extending proximal to the MCP joints"
* $CIG#puffy-fingers "Puffy fingers"
* $CIG#sclerodactyly "Sclerodactyly"
* $CIG#fingertip-pitting-scars "Fingertip pitting scars"
* $CIG#abnormal-nailfold-capillaries "Abnormal nailfold capillaries"
* $CIG#pulmonary-arterial-hypertension "Pulmonary arterial hypertension"

ValueSet: RaynaudFrequencyVS
Id: raynaud-frequency
Title: "Raynaud's phenomenon frequency"
Description: "How often Raynaud's phenomenon occurs."
* insert VSMeta
* $CIG#raynaud-daily "Daily"
* $CIG#raynaud-regular "Regular"
* $CIG#raynaud-occasional "Occasional"

ValueSet: NeurologicalConditionVS
Id: neurological-condition
Title: "Neurological conditions in spinal calcinosis"
Description: "Neurological problems caused by spinal calcinosis: weakness, sensory disturbance, paraplegia, urinary incontinence, radiculopathy, cord / root compression. One code system per concept: SNOMED CT where a code is verified, the guide's code otherwise; ICD-10-CM codes a hospital sends (G82.21, G82.22, M54.16, R32, G95.20) reach these through the ConceptMap."
* insert VSMeta
* $SCT#26544005 "Muscle weakness"
* $CIG#sensory-disturbance "Sensory disturbance"
* $CIG#paraplegia-complete "Complete paraplegia"
* $CIG#paraplegia-incomplete "Incomplete paraplegia"
* $SCT#165232002 "Urinary incontinence"
* $SCT#128196005 "Lumbar radiculopathy"
* $CIG#spinal-cord-compression "Spinal cord compression"
* $CIG#nerve-root-compression "Nerve root compression"

ValueSet: MuscleVS
Id: muscle
Title: "Muscles tested"
Description: "Muscles and muscle groups graded in the neurological examination."
* insert VSMeta
* $CIG#tibialis-anterior "Tibialis anterior muscle"
* $CIG#gastrocnemius "Gastrocnemius muscle"
* $CIG#iliopsoas "Iliopsoas muscle"
* $CIG#quadriceps "Quadriceps femoris muscle"

ValueSet: NeuroExamVS
Id: neuro-exam
Title: "Neurological examination items"
Description: "Sensory, reflex and strength items of the neurological examination (other than MRC grades per muscle)."
* insert VSMeta
* $CIG#sensory-level "Sensory level"
* $CIG#sensory-function "Sensory function"
* $CIG#position-sense "Position sense"
* $CIG#vibration-sense "Vibration sense"
* $CIG#tendon-reflexes "Tendon reflexes"
* $CIG#achilles-reflex "Achilles reflex"
* $CIG#extensor-plantar-response "Extensor plantar response"
* $CIG#ankle-dorsiflexion "Ankle dorsiflexion strength"
* $CIG#ankle-plantar-flexion "Ankle plantar flexion strength"

ValueSet: SensoryModalityVS
Id: sensory-modality
Title: "Sensory modality"
Description: "Sensory modalities tested."
* insert VSMeta
* $CIG#pain-sensation "Pain sensation"
* $CIG#position-sense "Position sense"
* $CIG#vibration-sense "Vibration sense"

ValueSet: NeuroFindingVS
Id: neuro-finding
Title: "Neurological finding value"
Description: "Result of a neurological examination item."
* insert VSMeta
* $CIG#normal "Normal"
* $CIG#decreased "Decreased"
* $CIG#severely-decreased "Severely decreased"
* $CIG#increased "Increased"
* $CIG#disturbed "Disturbed"
* $CIG#positive "Positive"
* $CIG#negative "Negative"
* $CIG#absent "Absent"
* $CIG#present "Present"
* $CIG#improved "Improved"

ValueSet: LabTestVS
Id: lab-test
Title: "SSc and calcinosis laboratory tests"
Description: "Laboratory tests for SSc and calcinosis work-up."
* insert VSMeta
* $LNC#17861-6 "Calcium [Mass/volume] in Serum or Plasma"
* $LNC#2777-1 "Phosphate [Mass/volume] in Serum or Plasma"
* $LNC#2731-8 "Parathyrin.intact [Mass/volume] in Serum or Plasma"
* $CIG#pth-highly-sensitive "Parathyrin, highly sensitive assay"
* $LNC#5048-4 "Nuclear Ab [Titer] in Serum by Immunofluorescence"
* $LNC#14611-8 "Nuclear Ab pattern [interpretation] in Serum"
* $CIG#anti-scl-70 "Anti-Scl-70 (topoisomerase I) antibody"
* $CIG#anti-centromere "Anti-centromere antibody"
* $CIG#anti-rna-polymerase-iii "Anti-RNA polymerase III antibody"
* $CIG#other-autoantibodies "Other autoantibodies"
* $LNC#2093-3 "Cholesterol [Mass/volume] in Serum or Plasma"

ValueSet: LabCodedResultVS
Id: lab-coded-result
Title: "Coded laboratory results"
Description: "Coded results: positive / negative, ANA patterns."
* insert VSMeta
* $ObsInterp#POS "Positive"
* $ObsInterp#NEG "Negative"
* $CIG#homogeneous "Homogeneous"
* $CIG#speckled "Speckled"

ValueSet: LabMethodVS
Id: lab-method
Title: "Laboratory methods"
Description: "Assay methods for autoantibodies."
* insert VSMeta
* $CIG#iif-hep2 "Indirect immunofluorescence on HEp-2 cells"
* $CIG#elisa "ELISA"

ValueSet: ImagingModalityVS
Id: imaging-modality
Title: "Imaging modality"
Description: "DICOM acquisition modalities (DCM codes, as in ImagingStudy.modality): CT, MR, DX (digital radiography, for plain X-rays)."
* insert VSMeta
* $DCM#CT "Computed Tomography"
* $DCM#MR "Magnetic Resonance"
* $DCM#DX "Digital Radiography"

ValueSet: ImagingStudyVS
Id: imaging-study
Title: "Imaging studies"
Description: "Imaging studies used to find and follow calcinosis (LOINC, as every imaging report; the guide's code only for the multi-region spine MRI, which has no verified LOINC code)."
* insert VSMeta
* $LNC#24978-9 "Spine Thoracic CT"
* $LNC#30597-9 "Spine Thoracic CT WO contrast"
* $LNC#24968-0 "Spine Lumbar MRI"
* $LNC#24627-2 "Chest CT"
* $LNC#24725-4 "Head CT"
* $LNC#28582-5 "Hand X-ray"
* $LNC#37340-7 "Spine Lumbar and Sacrum X-ray"
* $CIG#mri-spine-multiregion "MRI of cervical, thoracic and lumbar spine"

ValueSet: ImagingFindingVS
Id: imaging-finding
Title: "Calcinosis imaging findings"
Description: "Findings reported on CT, MRI and X-ray for calcinosis and the spine."
* insert VSMeta
* $CIG#calcinosis-cutis "Calcinosis cutis"
* $CIG#paraspinal-calcinosis "Paraspinal calcinosis"
* $CIG#intraspinal-calcinosis "Intraspinal calcinosis"
* $CIG#tumoral-calcinosis "Tumoral calcinosis"
* $CIG#intracranial-calcification "Intracranial calcification"
* $CIG#soft-tissue-calcinosis "Soft-tissue calcinosis"
* $CIG#calcified-mass "Calcified mass"
* $CIG#spinal-canal-narrowing "Spinal canal narrowing"
* $CIG#spinal-cord-compression "Spinal cord compression"
* $CIG#nerve-root-compression "Nerve root compression"
* $CIG#disc-bulging "Intervertebral disc bulging"
* $CIG#disc-protrusion "Intervertebral disc protrusion"
* $CIG#spinal-stenosis "Spinal stenosis"
* $CIG#vertebral-body-ossification "Ossification of vertebral bodies"
* $CIG#perineural-cyst "Perineural (Tarlov) cyst"
* $CIG#calcinosis-recurrence "Calcinosis recurrence"

ValueSet: PresenceVS
Id: presence
Title: "Presence"
Description: "Present / absent."
* insert VSMeta
* $CIG#present "Present"
* $CIG#absent "Absent"

ValueSet: CalcinosisProcedureVS
Id: calcinosis-procedure
Title: "Calcinosis procedures"
Description: "Surgery for calcinosis."
* insert VSMeta
* $CIG#decompressive-laminectomy "Decompressive laminectomy"
* $CIG#excision-calcified-mass "Excision of calcified mass"
* $CIG#surgical-removal-calcinosis "Surgical removal of calcific masses"
* $SCT#86273004 "Biopsy"

ValueSet: ProcedureNotDoneReasonVS
Id: procedure-not-done-reason
Title: "Procedure not done reason"
Description: "Why a proposed procedure was not done."
* insert VSMeta
* $CIG#patient-refused "Patient refused"

ValueSet: SScMedicationVS
Id: ssc-medication
Title: "SSc and calcinosis medications"
Description: "Medications used in SSc and calcinosis."
* insert VSMeta
* $RXN#6851 "methotrexate"
* $CIG#diltiazem "Diltiazem"
* $RXN#7417 "nifedipine"
* $RXN#11289 "Warfarin"
* $RXN#6980 "minocycline"

ValueSet: HistopathologyFindingVS
Id: histopathology-finding
Title: "Histopathology findings"
Description: "Microscopic findings in calcinosis and SSc skin biopsies."
* insert VSMeta
* $CIG#calcium-deposits-on-collagen "Collagen fibres covered by calcium deposits"
* $CIG#reduced-dermal-vessels "Reduced dermal blood vessels"
* $CIG#degenerated-collagen-elastic-fibres "Degenerated collagen and elastic fibres"

ValueSet: CohortGroupVS
Id: cohort-group
Title: "Cohort study groups"
Description: "Groups of the spinal calcinosis prevalence study."
* insert VSMeta
* $CIG#cohort-ssc "SSc group"
* $CIG#cohort-ra "RA group"
* $CIG#cohort-sle "SLE group"
* $CIG#cohort-index-case "Index case"

ValueSet: DermatomeVS
Id: dermatome
Title: "Dermatome (sensory level)"
Description: "Dermatomes C2-S5 in cranio-caudal order: sensory (neurological) levels, distinct from the vertebral levels of SpinalLevelVS. Guide codes (SNOMED CT dermatome codes not verified)."
* insert VSMeta
* $CIG#dermatome-C2 "C2 dermatome"
* $CIG#dermatome-C3 "C3 dermatome"
* $CIG#dermatome-C4 "C4 dermatome"
* $CIG#dermatome-C5 "C5 dermatome"
* $CIG#dermatome-C6 "C6 dermatome"
* $CIG#dermatome-C7 "C7 dermatome"
* $CIG#dermatome-C8 "C8 dermatome"
* $CIG#dermatome-T1 "T1 dermatome"
* $CIG#dermatome-T2 "T2 dermatome"
* $CIG#dermatome-T3 "T3 dermatome"
* $CIG#dermatome-T4 "T4 dermatome"
* $CIG#dermatome-T5 "T5 dermatome"
* $CIG#dermatome-T6 "T6 dermatome"
* $CIG#dermatome-T7 "T7 dermatome"
* $CIG#dermatome-T8 "T8 dermatome"
* $CIG#dermatome-T9 "T9 dermatome"
* $CIG#dermatome-T10 "T10 dermatome"
* $CIG#dermatome-T11 "T11 dermatome"
* $CIG#dermatome-T12 "T12 dermatome"
* $CIG#dermatome-L1 "L1 dermatome"
* $CIG#dermatome-L2 "L2 dermatome"
* $CIG#dermatome-L3 "L3 dermatome"
* $CIG#dermatome-L4 "L4 dermatome"
* $CIG#dermatome-L5 "L5 dermatome"
* $CIG#dermatome-S1 "S1 dermatome"
* $CIG#dermatome-S2 "S2 dermatome"
* $CIG#dermatome-S3 "S3 dermatome"
* $CIG#dermatome-S4 "S4 dermatome"
* $CIG#dermatome-S5 "S5 dermatome"

ValueSet: MRCGradeVS
Id: mrc-grade
Title: "MRC muscle strength grade"
Description: "MRC grades 0-5 with the modifiers 4- and 4+."
* insert VSMeta
* $CIG#mrc-0 "0"
* $CIG#mrc-1 "1"
* $CIG#mrc-2 "2"
* $CIG#mrc-3 "3"
* $CIG#mrc-4-minus "4-"
* $CIG#mrc-4 "4"
* $CIG#mrc-4-plus "4+"
* $CIG#mrc-5 "5"

ValueSet: QualitativeSizeVS
Id: qualitative-size
Title: "Qualitative lesion size"
Description: "Sizes a source gives in words."
* insert VSMeta
* $CIG#small "Small"
* $CIG#large "Large"
* $CIG#massive "Massive"

ValueSet: SeverityVS
Id: severity
Title: "Severity"
Description: "Mild, moderate, severe (the SNOMED CT codes of the R4 condition-severity value set)."
* insert VSMeta
* $SCT#255604002 "Mild"
* $SCT#6736007 "Moderate"
* $SCT#24484000 "Severe"

ValueSet: MrssSiteVS
Id: mrss-site
Title: "mRSS sites"
Description: "The 17 sites of the modified Rodnan skin score."
* insert VSMeta
* $CIG#mrss-face "Face"
* $CIG#mrss-anterior-chest "Anterior chest"
* $CIG#mrss-abdomen "Abdomen"
* $CIG#mrss-fingers-right "Fingers, right"
* $CIG#mrss-fingers-left "Fingers, left"
* $CIG#mrss-hand-right "Hand (dorsum), right"
* $CIG#mrss-hand-left "Hand (dorsum), left"
* $CIG#mrss-forearm-right "Forearm, right"
* $CIG#mrss-forearm-left "Forearm, left"
* $CIG#mrss-upper-arm-right "Upper arm, right"
* $CIG#mrss-upper-arm-left "Upper arm, left"
* $CIG#mrss-thigh-right "Thigh, right"
* $CIG#mrss-thigh-left "Thigh, left"
* $CIG#mrss-leg-right "Lower leg, right"
* $CIG#mrss-leg-left "Lower leg, left"
* $CIG#mrss-foot-right "Foot (dorsum), right"
* $CIG#mrss-foot-left "Foot (dorsum), left"

ValueSet: DigitalUlcerVariableVS
Id: digital-ulcer-variable
Title: "Digital ulcer registry variables"
Description: "Digital ulcers ever / active (EUSTAR)."
* insert VSMeta
* $CIG#digital-ulcers-ever "Digital ulcers ever"
* $CIG#digital-ulcers-active "Active digital ulcers"

ValueSet: ILDExtentCategoryVS
Id: ild-extent-category
Title: "ILD extent category"
Description: "Limited (< 20%) or extensive (> 20%) ILD on HRCT."
* insert VSMeta
* $CIG#ild-limited "Limited ILD"
* $CIG#ild-extensive "Extensive ILD"

ValueSet: ClassificationItemVS
Id: acr-eular-2013-item
Title: "ACR/EULAR 2013 SSc classification items"
Description: "The 8 items of the 2013 ACR/EULAR classification criteria for SSc."
* insert VSMeta
* $CIG#acr-skin-proximal "Skin thickening proximal to the MCP joints"
* $CIG#acr-finger-skin "Skin thickening of the fingers"
* $CIG#acr-fingertip-lesions "Fingertip lesions"
* $CIG#acr-telangiectasia "Telangiectasia"
* $CIG#acr-nailfold-capillaries "Abnormal nailfold capillaries"
* $CIG#acr-pah-ild "PAH and/or ILD"
* $CIG#acr-raynaud "Raynaud's phenomenon"
* $CIG#acr-autoantibodies "SSc-related autoantibodies"

ValueSet: ClassificationResultVS
Id: acr-eular-2013-result
Title: "ACR/EULAR 2013 classification result"
Description: "Classified (total >= 9), not classified, or insufficient data (unrecorded items could still reach 9)."
* insert VSMeta
* $CIG#ssc-classified "Classified as SSc"
* $CIG#ssc-not-classified "Not classified as SSc"
* $CIG#ssc-insufficient-data "Insufficient data"

ValueSet: LesionLocationQualifierVS
Id: lesion-location-qualifier
Title: "Lesion location qualifier"
Description: "Side and relative position of a tracked lesion: the codes of R4 core bodystructure-relative-location (the binding of BodyStructure.locationQualifier), enumerated here so a validator without that core value set can check them."
* insert VSMeta
* $SCT#419161000 "Unilateral left"
* $SCT#419465000 "Unilateral right"
* $SCT#51440002 "Bilateral"
* $SCT#261183002 "Upper"
* $SCT#261122009 "Lower"
* $SCT#255561001 "Medial"
* $SCT#49370004 "Lateral"
* $SCT#264217000 "Superior"
* $SCT#261089000 "Inferior"
* $SCT#255551008 "Posterior"
* $SCT#351726001 "Below"
* $SCT#352730000 "Above"
