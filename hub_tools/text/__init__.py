"""Text utilities shared by validation and the recipes (PII patterns)."""
