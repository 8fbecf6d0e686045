"""Compatibility import: the provenance contract moved to :mod:`hub_tools.artifacts.provenance`.

``hub_tools.artifact.write_provenance`` was documented for recipes written outside hubtool; it keeps working.
"""
from hub_tools.artifacts.provenance import *  # noqa: F401,F403
