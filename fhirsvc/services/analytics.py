"""Analytics use cases over stored data: ACR/EULAR 2013 SSc classification of one patient
(`Patient/[id]/$ssc-classification`) and the cohort statistics of the stored study
(`$cohort-statistics`). The computing is `fhirsvc.analytics` (pure); this module gathers the
stored resources and, when asked, stores the derived Observation through the pipeline."""
from __future__ import annotations

from ..analytics import cohort_statistics, ssc_classification
from ..outcomes import fail
from ..wire import check_id

# the resources the classification reads (the patient's compartment, these types)
CLASSIFICATION_TYPES = ("Patient", "Condition", "Observation")
COHORT_TYPES = ("ResearchStudy", "ResearchSubject", "Condition")
GUIDE = "http://fhirsvc.org/fhir/calcinosis"
CLASSIFICATION_PROFILE = f"{GUIDE}/StructureDefinition/ssc-classification"


class AnalyticsService:
    def __init__(self, db, search_engine, resources, sync):
        self.db = db
        self.engine = search_engine
        self.resources = resources       # ResourceService: stores through the pipeline
        self._sync = sync
        self.guard = resources.guard     # fhirsvc.security.Guard

    def ssc_classification(self, ctx, patient_id: str, persist: bool = False,
                           effective: str | None = None) -> dict:
        """The derived Observation (not stored unless `persist`: then as stored)."""
        check_id(patient_id, "Patient.id")
        # reads the patient's compartment: Patient, Condition and Observation of that patient
        self.guard.patient_context(ctx, patient_id, "r")
        for rtype in CLASSIFICATION_TYPES[1:]:
            narrowed, _ = self.guard.search(ctx, rtype, [], ("Patient", patient_id))
            if narrowed:
                from ..security.guard import forbidden
                raise forbidden(f"The classification reads every {rtype} of the patient: a "
                                f"query-constrained scope ({narrowed}) does not allow it")
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            patient = uow.resources.read("Patient", patient_id)
            if patient is None or patient.deleted:
                raise fail(404, "not-found", f"Patient/{patient_id} is not known")
            found = [patient.resource()]
            for rtype in CLASSIFICATION_TYPES[1:]:
                found += [s.resource() for s in self.engine.match(
                    uow, rtype, [("patient", f"Patient/{patient_id}")])]
        # earlier classifications are results, not evidence
        evidence = [r for r in found
                    if CLASSIFICATION_PROFILE not in (r.get("meta") or {}).get("profile", [])]
        try:
            observation = ssc_classification(evidence, effective=effective)
        except ValueError as exc:
            raise fail(422, "processing", f"Cannot classify Patient/{patient_id}: {exc}") \
                from None
        if not persist:
            return observation
        return self.resources.create(ctx, "Observation", observation).stored.resource()

    def cohort_statistics(self, ctx, study: tuple[str, str] | None = None) -> dict:
        """Counts, prevalence with 95% CI and Fisher tests of the stored study, beside the
        published values. `study`: (system, value) of the ResearchStudy identifier."""
        for rtype in COHORT_TYPES:  # every resource of these types: no patient/ scope will do
            access = self.guard.require(ctx, rtype, "s")
            if not access.unrestricted:
                from ..security.guard import forbidden
                raise forbidden(f"The cohort statistics read every {rtype}: they need "
                                f"system/{rtype}.rs (or user/), not {access.limits[0].scope}")
        with self.db.unit_of_work() as uow:
            found = [s.resource() for rtype in COHORT_TYPES
                     for s in uow.resources.iter_current(rtype)]
        try:
            return cohort_statistics(found, study_identifier=study)
        except ValueError as exc:
            raise fail(422, "processing", f"Cannot compute the cohort statistics: {exc}") \
                from None
