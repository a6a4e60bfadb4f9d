// Operations through which data enter and leave fhirsvc beyond the FHIR REST interactions and
// Bulk Data $export (which uses the Bulk Data IG's own OperationDefinitions): the registry
// dataset, remote pulls and HL7 v2 messages. Each parameter is what the handler reads.

RuleSet: ExchangeOp(code, name, affects)
* version = "0.2.0"
* name = "{name}"
* status = #active
* kind = #operation
* experimental = false
* date = "2026-12-03"
* publisher = "fhirsvc project"
* code = #{code}
* affectsState = {affects}
* system = true
* type = false
* instance = false

Instance: registry-export
InstanceOf: OperationDefinition
Usage: #definition
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/registry-export"
* insert ExchangeOp(registry-export, RegistryExport, false)
* title = "Registry dataset export: de-identified CSV or REDCap files"
* description = "The calcinosis registry's variables (registry/calcinosis.yaml) read from the stored patients, de-identified by registry/deid-profile.yaml (keyed-hash pseudonym per patient, dates shifted or turned into ages, no direct identifiers), answered as text/csv: the flat CSV (one row per patient), the REDCap data dictionary, or REDCap records (repeating instruments). With Prefer: respond-async the export runs as a job: 202 with Content-Location, polled at $export-poll like a Bulk Data export."
* parameter[0].name = #format
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #code
* parameter[=].documentation = "csv (the default), redcap-dictionary or redcap-records."
* parameter[+].name = #_since
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #instant
* parameter[=].documentation = "Only the patients with any change to their data after this instant."
* parameter[+].name = #group
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #id
* parameter[=].documentation = "The id of a Group: only its members (by membership or by the Group's member query)."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The CSV file (text/csv), streamed."

Instance: registry-import
InstanceOf: OperationDefinition
Usage: #definition
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/registry-import"
* insert ExchangeOp(registry-import, RegistryImport, true)
* title = "Registry dataset import from REDCap records or the flat CSV"
* description = "A text/csv body (REDCap records, with repeating instruments, or the flat CSV of $registry-export) is validated row by row against the dataset's schemas (400 with row and field, nothing stored), then stored as one transaction through the ingestion pipeline with a Provenance: a pseudonymised Patient per record and the records' resources, validated against the guide's profiles. A record id imported before is a 409."
* parameter[0].name = #input
* parameter[=].use = #in
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The request body, text/csv: REDCap records or the flat CSV."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #OperationOutcome
* parameter[=].documentation = "How many records and resources were stored, and the Provenance."

Instance: remote-pull
InstanceOf: OperationDefinition
Usage: #definition
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/remote-pull"
* insert ExchangeOp(remote-pull, RemotePull, true)
* title = "Pull resources from a registered remote FHIR server"
* description = "Queues a remote-pull job for an endpoint registered with python -m fhirsvc endpoints add: the endpoint's types searched since its cursor, one search, one patient's $everything, or a Bulk Data $export of the remote. Each page is localised and stored as a transaction through the ingestion pipeline with a Provenance. Answers 202 with the job's status URL in Content-Location. Needs the fhirsvc/admin scope when authorisation is on."
* parameter[0].name = #endpoint
* parameter[=].use = #in
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #string
* parameter[=].documentation = "The registered endpoint's name."
* parameter[+].name = #patient
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #string
* parameter[=].documentation = "A Patient id on the remote: pull its Patient/[id]/$everything."
* parameter[+].name = #search
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #string
* parameter[=].documentation = "One search on the remote, Type?params."
* parameter[+].name = #bulk
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #boolean
* parameter[=].documentation = "true: a Bulk Data $export of the remote."
* parameter[+].name = #since
* parameter[=].use = #in
* parameter[=].min = 0
* parameter[=].max = "1"
* parameter[=].type = #instant
* parameter[=].documentation = "Only resources changed after this instant (default: the endpoint's cursor)."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #OperationOutcome
* parameter[=].documentation = "The queued job; its status URL is in Content-Location."

Instance: convert-hl7v2
InstanceOf: OperationDefinition
Usage: #definition
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/convert-hl7v2"
* insert ExchangeOp(convert-hl7v2, ConvertHl7v2, false)
* title = "Convert an HL7 v2 message to a FHIR transaction Bundle"
* description = "The HL7 v2 message of the body (x-application/hl7-v2+er7 or text/plain) converted by the YAML mappings into the transaction Bundle that $process-hl7v2 would store; nothing is stored."
* parameter[0].name = #message
* parameter[=].use = #in
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The request body: one HL7 v2 message."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Bundle
* parameter[=].documentation = "The transaction Bundle."

Instance: process-hl7v2
InstanceOf: OperationDefinition
Usage: #definition
* url = "http://fhirsvc.org/fhir/calcinosis/OperationDefinition/process-hl7v2"
* insert ExchangeOp(process-hl7v2, ProcessHl7v2, true)
* title = "Process an HL7 v2 message and answer its ACK"
* description = "The HL7 v2 message of the body is converted and stored through the ingestion pipeline with a Provenance, and logged; the answer is the HL7 v2 acknowledgement (AA, AE or AR), x-application/hl7-v2+er7."
* parameter[0].name = #message
* parameter[=].use = #in
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The request body: one HL7 v2 message."
* parameter[+].name = #return
* parameter[=].use = #out
* parameter[=].min = 1
* parameter[=].max = "1"
* parameter[=].type = #Binary
* parameter[=].documentation = "The ACK message."
