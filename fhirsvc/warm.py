"""Ahead-of-fork warming: the work a server process would otherwise do on the first requests
that meet each resource type, done once in the process that forks the workers.

Each gunicorn worker (and the MLLP listener) otherwise pays on its first writes for compiling
the validator's StructureDefinitions into Node trees (`validation.definitions.Definitions`),
importing the FHIRPath engine (fhirpathpy, ANTLR and its R4 model, imported lazily so the CLI
does not pay for it) and compiling the search extractors of each resource type. Done before
the fork and before `gc.freeze`, the workers share these structures copy-on-write and full
collections never walk them.

What is compiled is every StructureDefinition of the registry's current generation (R4 core,
the guide, `--ig` packages, those stored through the API and loaded at start-up), and the search
extractors of every resource type; a generation published later (a StructureDefinition
written through the API) compiles its own on first use, as before. FHIRSVC_WARM=false skips it.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger("fhirsvc.warm")


def warm_validator(registry) -> int:
    """Compile every StructureDefinition of the registry's current generation (a profile whose
    snapshot fails is remembered as broken, as on first use) and load the FHIRPath engine.
    Returns the number of StructureDefinitions compiled."""
    from .validation.definitions import Definitions
    from .validation.fhirpath import _fhirpathpy
    _fhirpathpy()
    state = registry.state
    defs = Definitions.of(state)
    n = 0
    for url in list(state.sds):
        if defs.compiled(url) is not None:
            n += 1
    return n


def warm_search(search_registry) -> int:
    """Compile the search extractors of every resource type; returns how many types."""
    from .resource_types import RESOURCE_TYPES
    for rtype in RESOURCE_TYPES:
        search_registry.compiled(rtype)
    return len(RESOURCE_TYPES)


def warm(runtime) -> dict:
    """Warm a runtime's validator and search extractors; returns what was done, for the log."""
    t, c = time.perf_counter(), time.process_time()
    sds = warm_validator(runtime.definitions)
    types = warm_search(runtime.search_registry)
    done = {"structure_definitions": sds, "search_types": types,
            "seconds": round(time.perf_counter() - t, 3),
            "cpu_seconds": round(time.process_time() - c, 3)}
    log.info("warmed %(structure_definitions)d StructureDefinitions and the search extractors "
             "of %(search_types)d types in %(seconds).2f s", done)
    return done
