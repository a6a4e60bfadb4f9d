"""SearchParameter-driven search: index extraction at write time, query building, Bundles.

    registry = SearchRegistry.load()          # R4 core + the guide's SearchParameters
    db = Database(url, indexer=Indexer(registry))
    engine = SearchEngine(registry)
    engine.search(uow, "Observation", [("patient", "Patient/1")], base_url=...)
    engine.match(uow, "Patient", [("identifier", "sys|1")])      # conditional operations
    engine.everything(uow, "1", [], base_url=...)                 # Patient/$everything
    reindex(db, registry)                     # after search parameters change

Modules: `registry` (parameters, compiled once per resource type), `paths` (expression ->
native walker, fhirpathpy only for real FHIRPath), `indexer` (rows at write time), `query`
(one parameter -> SQL condition), `engine` (request -> plan -> Bundle), `tables` (index tables,
created by migration 0002), `values` (dates, strings, references normalised the same way on
both sides).

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
from .indexer import Indexer, reindex
from .registry import SearchParam, SearchRegistry

__all__ = ["Indexer", "SearchEngine", "SearchParam", "SearchRegistry", "reindex"]
