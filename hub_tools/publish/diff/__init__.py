"""`hubtool diff`: what changed between two versions of an artifact or a release.

Rows by a content hash per row (``rowhash``), compared in bounded memory (``rowset``); sides read from
the Hub or local folders (``sides``); the comparison (``compare``); what OLD and NEW name
(``targets``); the result's schema (``model``); the card's "Changes since" section (``changes``).
"""
from hub_tools.publish.diff.compare import compare_artifact
from hub_tools.publish.diff.model import ArtifactDiff, DiffResult, diff_json_schema
from hub_tools.publish.diff.targets import Options, diff_refs

__all__ = ["ArtifactDiff", "DiffResult", "Options", "compare_artifact", "diff_json_schema", "diff_refs"]
