"""Bundled sample data and the builders of tiny stand-ins (models, adapters, sample artifacts) used by the
quickstart, tests and benchmarks; kept apart from the library proper."""
