"""Jinja templates of the cards hubtool writes (dataset, model, Space). Edit them, or override per artifact."""
