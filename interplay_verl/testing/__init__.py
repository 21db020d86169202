"""Fixtures for tests and benchmarks (like ``numpy.testing``): toy documents, a tiny model, the
smallest verl SFT/GRPO overrides and a plain answer reward. Not part of the CLI."""
