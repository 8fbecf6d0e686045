"""Serving models: the OpenAI-compatible transformers server (the CPU stand-in for vllm serve) and the Space load tester."""
