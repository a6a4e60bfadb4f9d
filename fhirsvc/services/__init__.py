"""Use cases, one module per family; every method takes a RequestContext first.

    services.resources   read, vread, create, update, delete, history, transaction/batch, ingest
    services.search      type / system / compartment search, Patient/$everything
    services.validate    $validate
    services.capabilities  the CapabilityStatement
    services.analytics   $ssc-classification, $cohort-statistics
    services.hl7v2       $convert-hl7v2, $process-hl7v2, MLLP, the HL7 v2 message log
    services.export      Bulk Data $export: kick-off, status, files, cancel, jobs (UI)
    services.patients    a patient's record for the case page (read only)
    services.jobs        job status (read only: the feeds page)
    services.guide       the guide's profiles (the validate page's picker)
    services.remote      remote endpoints, pull and push jobs
    services.guard       SMART scope checks every use case asks (fhirsvc/security, docs/security.md)
    services.audit       the audit trail: AuditEvent read/search, access records (audit.log)
    services.auth        the built-in SMART Backend Services authorization server

Plain data in, resources, typed results or OperationOutcomeError out. No Flask, no HTTP
headers, no SQL: storage is reached through units of work, every write through the ingestion
pipeline (`fhirsvc.ingest`).
"""
from __future__ import annotations

from dataclasses import dataclass

from .analytics import AnalyticsService
from .audit import AuditService
from .capabilities import CapabilityService
from .hl7v2 import Hl7v2Service
from .conformance import CONFORMANCE_TYPES, ConformanceSync
from .export import ExportService
from .registry import RegistryService
from .guide import GuideService
from .jobs import JobsService
from .patients import PatientRecord, PatientRecordService
from .remote import RemoteService
from .lastn import LastNService
from .resources import Representation, ResourceService
from .search import SearchService
from .validate import ValidateService


@dataclass(frozen=True)
class Services:
    resources: ResourceService
    search: SearchService
    validate: ValidateService
    capabilities: CapabilityService
    conformance: ConformanceSync
    analytics: AnalyticsService
    patients: PatientRecordService
    jobs: JobsService
    guide: GuideService
    remote: RemoteService | None = None   # pull from / push to remote FHIR systems
    export: ExportService | None = None       # Bulk Data $export
    registry: RegistryService | None = None   # registry CSV / REDCap out and in
    lastn: LastNService = None
    # security (fhirsvc/security): None only in unit tests that build services by hand
    guard: object = None
    audit: AuditService | None = None
    auth: object = None
    verifier: object = None
    hl7v2: Hl7v2Service | None = None  # HL7 v2 (services/hl7v2.py)
    users: object = None   # the pages' user directory (security/users.py UserDirectory)


__all__ = ["GuideService", "JobsService", "PatientRecord", "PatientRecordService",
           "AnalyticsService", "AuditService", "CONFORMANCE_TYPES", "CapabilityService",
           "ConformanceSync", "ExportService", "Hl7v2Service", "LastNService", "RegistryService",
           "Representation", "RemoteService",
           "ResourceService", "SearchService", "Services", "ValidateService"]
