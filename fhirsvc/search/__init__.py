"""SearchParameter-driven search, without SQL: index rows, parsed requests, Bundles.

    registry = SearchRegistry.load()          # R4 core + the guide's SearchParameters
    db = Database(url, indexer=Indexer(registry))
    engine = SearchEngine(registry, default_count=20, max_count=1000)
    engine.search(uow, "Observation", [("patient", "Patient/1")], base_url=...)
    engine.match(uow, "Patient", [("identifier", "sys|1")])      # conditional operations
    engine.everything(uow, "1", [], base_url=...)                 # Patient/$everything
    reindex(db, registry)                     # after search parameters change

Modules: `registry` (parameters, compiled once per resource type), `paths` (expression ->
native walker, fhirpathpy only for real FHIRPath), `extract` (a resource -> typed index rows,
`rows`), `parse` (a request -> the typed `criteria` of a SearchQuery; every 400 is raised
there), `engine` (parse -> storage -> Bundle), `bundle` (searchset Bundles), `reindex`,
`values` (dates, strings, references normalised the same way on both sides). Storage
(fhirsvc.storage: index tables, index and search repositories) writes the rows and compiles
the criteria into SQL.

Supported: token (system|code, |code, code, :not, :text, :of-type), string (prefix, case- and
accent-insensitive; :exact, :contains), date (eq ne gt lt ge le sa eb ap over precision ranges,
periods, timezones), reference (Type/id, id, own-base absolute URL, other URLs and canonicals,
:Type, :identifier), quantity (value|system|code with prefixes, unit as code), number, uri
(:below), two-component composites, :missing everywhere; comma = OR, repetition = AND; one level
of chaining and of _has; _include/_revinclude (with :iterate, `*`); _id, _lastUpdated, _tag,
_profile, _security, _source, _type; _sort (several keys, `-`), _count/_offset paging links,
_total, _summary=count|text|data, _elements; Patient compartment search and $everything.
Not supported: _text, _content, _query, _list, _filter, token :in/:not-in/:above/:below,
uri :above, deeper chains, three-component composites (MolecularSequence), _summary=true (full
resources, with a warning).
"""
from .engine import SearchEngine
from .extract import Indexer
from .registry import SearchParam, SearchRegistry
from .reindex import reindex, reindex_batch

__all__ = ["Indexer", "SearchEngine", "SearchParam", "SearchRegistry", "reindex",
           "reindex_batch"]
