"""The local staging hub: a loopback server speaking the part of the Hugging Face Hub API that
huggingface_hub, datasets, transformers and peft use, storing repos durably on local disk.

Start it with ``hubtool hub serve`` or :func:`hub_tools.localhub.server.serve`.
"""
