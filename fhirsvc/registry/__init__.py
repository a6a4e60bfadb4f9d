"""The registry dataset (registry/calcinosis.yaml): loading, extraction, de-identification,
CSV / REDCap files, and import. The use cases are in services/registry.py."""
