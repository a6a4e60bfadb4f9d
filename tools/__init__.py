"""Developer and CI tooling that is not part of the service: the conformance run, the server
process helper of end-to-end tests and benchmarks."""
