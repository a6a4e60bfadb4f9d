"""The ingestion pipeline: immutable plans, resolution, validation, storage, typed results."""
from .pipeline import IngestPipeline, ProvenanceRecord
from .plan import (Plan, plan_bundle, plan_conditional_delete, plan_conditional_update,
                   plan_conditional_patch, plan_create, plan_delete, plan_patch, plan_update)
from .results import EntryResult, IngestResult, Outcome

__all__ = ["EntryResult", "IngestPipeline", "IngestResult", "Outcome", "Plan",
           "ProvenanceRecord", "plan_bundle", "plan_conditional_delete",
           "plan_conditional_patch", "plan_conditional_update", "plan_create", "plan_delete",
           "plan_patch", "plan_update"]
