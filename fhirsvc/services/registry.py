"""The registry dataset out (flat CSV, REDCap dictionary, REDCap records) and back in.

    text = "".join(services.registry.export(ctx, "redcap-records", group="g1"))
    result = services.registry.import_csv(ctx, csv_bytes)     # one transaction, all or nothing

Export reads the stored JSON text of the dataset's resource types (storage streams it in
keyset batches), extracts one record per patient (fhirsvc/registry/extract.py) and
de-identifies as the profile file says. Import validates every row (marshmallow schemas built
from the dataset), builds one transaction Bundle and hands it to the ingestion pipeline, so a
bad row, or a resource the guide's profiles refuse, stores nothing.
"""
from __future__ import annotations

import pickle
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Iterator

import orjson

from ..ingest import ProvenanceRecord
from ..outcomes import OperationOutcomeError, error, fail
from ..registry import csvfiles
from ..registry.dataset import Dataset, load_dataset
from ..registry.deid import PSEUDONYM_SYSTEM, Deidentifier, pseudonym_key
from ..registry.extract import Extractor
from ..registry.importer import RegistryImportError, parse_records, to_bundle
from ..storage.export_queries import BatchSizer, Selection
from ..storage.jobs import now_micros

FORMATS = ("csv", "redcap-dictionary", "redcap-records")
# the parameters of $registry-export (its OperationDefinition), and those any request may carry
# (_format / _pretty: content negotiation)
EXPORT_PARAMETERS = frozenset({"format", "_since", "group", "_format", "_pretty"})
BATCH = 5000
PAGE = 250  # patients per page of a registry export (their resources are read together)


@dataclass(frozen=True)
class RegistryImport:
    records: int
    resources: int
    provenance: str | None


class RegistryService:
    def __init__(self, db, engine, resources, config, sync=None, guard=None):
        self.guard = guard          # scopes (fhirsvc/security): None only in hand-built tests
        self.db = db
        self.engine = engine
        self.resources = resources
        self.config = config
        self._sync = sync
        self._dataset: Dataset | None = None
        self._deid: Deidentifier | None = None

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:  # loaded on first use: the CLI and tests that never need it
            self._dataset = load_dataset(self.config.registry_file,
                                         self.config.profiles_dir / "fsh-generated" / "resources")
        return self._dataset

    @property
    def deid(self) -> Deidentifier:
        if self._deid is None:
            self._deid = Deidentifier(self.dataset.deid, pseudonym_key(self.config))
        return self._deid

    # -- export ----------------------------------------------------------------------------------
    def check_export_parameters(self, ctx, names) -> list[str]:
        """The query parameters of a $registry-export that it does not know: a 400 naming
        each under `Prefer: handling=strict`, else one warning each (they are ignored), as
        the Bulk Data kick-off does. A silently ignored `_typo=...` would hand a client a
        dataset other than the one it asked for."""
        unknown = list(dict.fromkeys(n for n in names if n not in EXPORT_PARAMETERS))
        if unknown and ctx.strict_handling:
            raise OperationOutcomeError([error(
                "not-supported", f"{n} is not a $registry-export parameter (Prefer: "
                "handling=strict)", n) for n in unknown], 400)
        return [f"{n} is not a $registry-export parameter; it was ignored" for n in unknown]

    def export(self, ctx, fmt: str, since: str | None = None, group: str | None = None
               ) -> Iterator[str]:
        """CSV text, a line at a time."""
        if fmt not in FORMATS:
            raise fail(400, "invalid", f"format must be one of {', '.join(FORMATS)}, not "
                       f"{fmt!r}", "format")
        ds = self.dataset
        if fmt == "redcap-dictionary":       # the variables only: no patient data
            return csvfiles.dictionary(ds)
        if self.guard is not None:
            self.guard.require_whole(ctx, None, "r", "A registry export")
        records = self.records(ctx, since, group)
        if fmt == "redcap-records":
            return csvfiles.redcap_records(ds, records)
        return self._flat(records)

    def _flat(self, records: Iterator) -> Iterator[str]:
        """The flat CSV's header needs every record's instance counts: the records are
        spooled to a temporary file (one page of patients in memory at a time), then read
        back under the header."""
        ds = self.dataset
        counts = {f.name: 0 for f in ds.repeating}
        spool = tempfile.TemporaryFile()
        try:
            for rec in records:
                for form in counts:
                    counts[form] = max(counts[form], len(rec.instances.get(form, ())))
                pickle.dump(rec, spool, protocol=pickle.HIGHEST_PROTOCOL)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise

        def back():
            with spool:
                while True:
                    try:
                        yield pickle.load(spool)  # our own file, written just above
                    except EOFError:
                        return
        return csvfiles.flat(ds, back(), counts)

    def records(self, ctx, since: str | None = None, group: str | None = None) -> Iterator:
        """The registry records, by record id, a page of patients at a time: memory holds one
        page's resources and extracted values, plus (record id, patient id) per patient for
        the order. Checked (group, _since) before the first line."""
        from ..bulk.request import parse_instant
        ds = self.dataset
        since_us = parse_instant(since, "_since") if since else None
        until = now_micros()
        types = sorted({r.resource for r in ds.records.values()})
        with self.db.unit_of_work() as uow:
            if self._sync is not None:
                self._sync(uow)
            only = None
            if group is not None:
                from .export import ExportService
                stored = uow.resources.read("Group", group)
                if stored is None or stored.deleted:
                    raise fail(404, "not-found", f"Group/{group} is not known", "group")
                only = set(ExportService(self.db, self.engine, self.config)._members(
                    uow, stored.resource()))
            if since_us is not None:  # patients with any change to their data since then
                changed = set()
                for t in types:
                    sel = Selection(t, until, since_us, all_patients=t != "Patient",
                                    compartment_params=self._params(t) if t != "Patient" else (),
                                    patients=None)
                    for _pk, rid, content, _d in _stream(lambda: nullcontext(uow), sel):
                        if t == "Patient":
                            changed.add(rid)
                        else:
                            ref = _subject(orjson.loads(content))
                            if ref:
                                changed.add(ref)
                only = changed if only is None else only & changed
        return self._pages(types, only, until)

    def _pages(self, types: list[str], only: set | None, until: int) -> Iterator:
        ds, deid = self.dataset, self.deid
        order = []  # (record id, patient id): the export's order, known from the Patients
        for _pk, rid, content, _deleted in _stream(self.db.unit_of_work,
                                                   Selection("Patient", until)):
            if only is None or rid in only:
                order.append((deid.pseudonym(orjson.loads(content))[0], rid))
        order.sort()
        params = {t: self._params(t) for t in types if t != "Patient"}
        for start in range(0, len(order), PAGE):
            page = [pid for _rec, pid in order[start:start + PAGE]]
            with self.db.unit_of_work() as uow:
                rows = uow.exports.compartments(page, params, until)
            ex = Extractor(ds, deid, set(page))
            for _type, _rid, content in rows:  # Patients come first
                ex.add(orjson.loads(content))
            del rows
            yield from ex.records()

    def _params(self, rtype: str) -> tuple[str, ...]:
        return tuple(self.engine.registry.patient_compartment(rtype))

    # -- import ----------------------------------------------------------------------------------
    def import_csv(self, ctx, data: bytes) -> RegistryImport:
        ds = self.dataset
        try:
            records = parse_records(ds, data)
        except RegistryImportError as exc:
            raise OperationOutcomeError([error(
                "invalid", f"row {p.row}, {p.field}: {p.message}", f"row[{p.row}].{p.field}")
                for p in exc.problems[:200]], 400) from None
        if not records:
            raise fail(400, "invalid", "the CSV has no records")
        with self.db.unit_of_work() as uow:
            existing = [r.record_id for r in records if uow.search.match(
                self.engine.parser.criteria("Patient", [
                    ("identifier", f"{PSEUDONYM_SYSTEM}|{r.record_id}")]))]
        if existing:
            raise OperationOutcomeError([error(
                "duplicate", f"record {rid} was imported before; nothing was stored",
                "record_id") for rid in existing[:50]], 409)
        bundle = to_bundle(ds, records)
        result = self.resources.ingest(ctx, bundle, ProvenanceRecord(
            door="registry-import", agent=ctx.caller or "registry import",
            activity=f"{ds.name} registry CSV ({len(records)} records)"))
        prov = result.provenance
        return RegistryImport(len(records), len(result.entries),
                              f"Provenance/{prov.resource_id}" if prov else None)


def _stream(unit_of_work, sel: Selection):
    """Every row of a selection, both phases, in batches of about the same bytes, each read
    in the unit of work `unit_of_work()` enters."""
    for phase in (sel, sel.later()):
        after, sizer = 0, BatchSizer(BATCH)
        while True:
            with unit_of_work() as uow:
                rows = uow.exports.batch(phase, after, sizer.rows)
            if not rows:
                break
            sizer.seen(rows)
            after = rows[-1][0]
            yield from rows


def _subject(res: dict) -> str | None:
    ref = (res.get("subject") or res.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None
