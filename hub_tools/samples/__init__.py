"""Bundled sample data (CC0 Basque sentences) and the builders of tiny stand-in models and tokenizers used by
tests and benchmarks; kept apart from the library proper. Nothing here is a published artifact: the
quickstart's artifacts are all made by the recipes (recipes/quickstart/release.yaml)."""
