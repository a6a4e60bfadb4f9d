"""Use cases, one module per family; every method takes a RequestContext first.

    services.resources   read, vread, create, update, delete, history, transaction/batch, ingest
    services.search      type / system / compartment search, Patient/$everything
    services.validate    $validate
    services.capabilities  the CapabilityStatement
    services.analytics   $ssc-classification, $cohort-statistics
    services.patients    a patient's record for the case page (read only)
    services.jobs        job status (read only: the feeds page)
    services.guide       the guide's profiles (the validate page's picker)
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
from .conformance import CONFORMANCE_TYPES, ConformanceSync
from .guide import GuideService
from .jobs import JobsService
from .patients import PatientRecord, PatientRecordService
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
    lastn: LastNService = None
    # security (fhirsvc/security): None only in unit tests that build services by hand
    guard: object = None
    audit: AuditService | None = None
    auth: object = None
    verifier: object = None


__all__ = ["GuideService", "JobsService", "PatientRecord", "PatientRecordService",
           "AnalyticsService", "AuditService", "CONFORMANCE_TYPES", "CapabilityService", "ConformanceSync", "LastNService", "Representation",
           "ResourceService", "SearchService", "Services", "ValidateService"]
