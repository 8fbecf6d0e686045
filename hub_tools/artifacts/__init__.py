"""The artifact model: provenance (hubtool.json), the release manifest, data layout, cards, front matter, licences."""
