"""hubtool: publish low-resource-language LLM artifacts to the Hugging Face Hub."""
__version__ = "0.1.0"
