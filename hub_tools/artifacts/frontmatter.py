"""The YAML metadata block at the top of a Hub card (README.md)."""
from __future__ import annotations

import yaml


def front_matter(text: str) -> dict | None:
    """The YAML metadata block of a card (``---`` ... ``---``); None if there is none. ValueError if invalid."""
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        raise ValueError("the metadata block opened by '---' is never closed")
    try:
        data = yaml.safe_load(text[3:end])
    except yaml.YAMLError as err:
        raise ValueError(f"invalid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the metadata must be a YAML mapping")
    return data
