"""Fixtures for tests and benchmarks (like ``numpy.testing``): toy documents, a tiny model, the
smallest verl SFT overrides, and the composite reward negated (a learning test's negative
control). Not part of the CLI."""
