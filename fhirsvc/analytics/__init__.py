"""Analytics over plain FHIR resource dicts (no Flask, no SQL): what the cohort paper computed
and what a registry derives from stored data.

    ssc_classification(resources_of_one_patient) -> derived Observation (ACR/EULAR 2013)
    cohort_statistics(resources) -> dict (group counts, prevalence with 95% CI, Fisher tests
                                          beside the published values)
    statistics_csv(stats) -> str, statistics_svg(stats) -> str
    resources_from_bundles(*bundles) -> resources with ids, urn:uuid references rewritten

Modules: `codes` (the guide's codes the analytics read), `classification`, `cohort`,
`published` (the source paper's numbers, data), `render`, `bundles`.
"""
from .bundles import resources_from_bundles
from .classification import ssc_classification
from .cohort import cohort_statistics
from .render import statistics_csv, statistics_svg

__all__ = ["cohort_statistics", "resources_from_bundles", "ssc_classification", "statistics_csv",
           "statistics_svg"]
