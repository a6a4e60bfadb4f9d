"""A patient's record for people to read (the case page): the patient and every current
resource of the types a clinician's overview shows, gathered in one unit of work. Read only;
the page builders in `fhirsvc.ui` turn it into a timeline, a spine map, labs and charts."""
from __future__ import annotations

from dataclasses import dataclass

from ..outcomes import fail
from ..wire import check_id

# the types of the case overview, each found by its `patient` search parameter
RECORD_TYPES = ("Condition", "Encounter", "Observation", "DiagnosticReport", "Procedure",
                "MedicationStatement", "MedicationRequest", "BodyStructure", "ImagingStudy")


@dataclass(frozen=True)
class PatientRecord:
    patient: dict
    resources: tuple[dict, ...]

    def of_type(self, rtype: str) -> list[dict]:
        return [r for r in self.resources if r.get("resourceType") == rtype]


class PatientRecordService:
    def __init__(self, db, search_engine, sync, guard=None):
        self.db = db
        self.engine = search_engine
        self._sync = sync
        if guard is None:
            from ..security.guard import Guard
            guard = Guard(search_engine.registry, search_engine)
        self.guard = guard     # fhirsvc.security.Guard: the caller's scopes

    def record(self, ctx, patient_id: str) -> PatientRecord:
        check_id(patient_id, "Patient.id")
        # like $everything: the patient's own record; what the scopes do not reach is left out
        self.guard.patient_context(ctx, patient_id, "r")
        with self.db.unit_of_work() as uow:
            self._sync(uow)
            patient = uow.resources.read("Patient", patient_id)
            if patient is None or patient.deleted:
                raise fail(404, "not-found", f"Patient/{patient_id} is not known")
            self.guard.check(ctx, uow, "r", patient)
            found: list[dict] = []
            for rtype in RECORD_TYPES:
                stored = self.engine.match(uow, rtype, [("patient", f"Patient/{patient_id}")])
                found += [s.resource() for s in self.guard.admit(ctx, uow, "r", stored)]
        return PatientRecord(patient.resource(), tuple(found))
