"""The release pipeline: plan and push one artifact, release a manifest, verify it as the community would, promote a variant, stage the demo Space."""
