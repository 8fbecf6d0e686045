"""Collections in the local hub's database: a mixin of :class:`HubStore` (it brings ``_read``/``_write``)."""
from __future__ import annotations

import re
import sqlite3
import uuid

from hub_tools.localhub.errors import HubError, bad_request
from hub_tools.localhub.model import check_name, utcnow

THEMES = ("orange", "blue", "green", "purple", "pink", "indigo")


class CollectionStore:
    def create_collection(self, namespace: str, title: str, description: str | None, private: bool) -> str:
        check_name(namespace, "namespace")
        if not title or len(title) > 60:
            raise bad_request("A collection title must have 1 to 60 characters")
        existing = self._read("SELECT slug FROM collections WHERE namespace=? AND title=?", (namespace, title))
        if existing:
            err = HubError(409, f"A collection titled {title!r} already exists in {namespace}")
            err.extra = {"slug": existing[0]["slug"]}  # type: ignore[attr-defined]
            raise err
        slug_title = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "collection"
        slug = f"{namespace}/{slug_title}-{uuid.uuid4().hex[:24]}"
        now = utcnow()
        with self._write() as db:
            db.execute("INSERT INTO collections(slug, namespace, title, description, private, created_at, "
                       "updated_at) VALUES(?,?,?,?,?,?,?)",
                       (slug, namespace, title, description, int(private), now, now))
        return slug

    def collection(self, slug: str) -> sqlite3.Row | None:
        rows = self._read("SELECT * FROM collections WHERE slug=?", (slug,))
        return rows[0] if rows else None

    def collections(self, owner: str | None) -> list[sqlite3.Row]:
        if owner:
            return self._read("SELECT * FROM collections WHERE namespace=? ORDER BY created_at", (owner,))
        return self._read("SELECT * FROM collections ORDER BY created_at")

    def collection_items(self, slug: str) -> list[sqlite3.Row]:
        return self._read("SELECT * FROM collection_items WHERE slug=? ORDER BY position", (slug,))

    def add_collection_item(self, slug: str, item_id: str, item_type: str, note: str | None) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM collection_items WHERE slug=? AND item_type=? AND item_id=?",
                          (slug, item_type, item_id)).fetchone():
                raise HubError(409, f"{item_type} {item_id} is already in collection {slug}")
            pos = db.execute("SELECT COALESCE(MAX(position)+1, 0) FROM collection_items WHERE slug=?",
                             (slug,)).fetchone()[0]
            db.execute("INSERT INTO collection_items VALUES(?,?,?,?,?,?)",
                       (slug, uuid.uuid4().hex[:24], item_id, item_type, pos, note))
            db.execute("UPDATE collections SET updated_at=? WHERE slug=?", (utcnow(), slug))

    def update_collection(self, slug: str, fields: dict) -> None:
        """Set title, description, private, theme or position; anything else or a bad value is a 400."""
        unknown = sorted(set(fields) - {"title", "description", "private", "theme", "position"})
        if unknown:
            raise bad_request(f"Unknown collection field(s) {', '.join(unknown)}: the local hub updates title, "
                              "description, private, theme and position")
        if "title" in fields and not (isinstance(fields["title"], str) and 1 <= len(fields["title"]) <= 60):
            raise bad_request("A collection title must have 1 to 60 characters")
        if "private" in fields and not isinstance(fields["private"], bool):
            raise bad_request("'private' must be true or false")
        if "description" in fields and not isinstance(fields["description"], (str, type(None))):
            raise bad_request("'description' must be a string")
        if "theme" in fields and fields["theme"] not in THEMES:
            raise bad_request(f"Invalid theme {fields['theme']!r}: expected one of {', '.join(THEMES)}")
        if "position" in fields and (not isinstance(fields["position"], int) or isinstance(fields["position"], bool)
                                     or fields["position"] < 0):
            raise bad_request("'position' must be a non-negative integer")
        with self._write() as db:
            for key, value in fields.items():
                db.execute(f"UPDATE collections SET {key}=? WHERE slug=?",
                           (int(bool(value)) if key == "private" else value, slug))
            db.execute("UPDATE collections SET updated_at=? WHERE slug=?", (utcnow(), slug))

    def update_collection_item(self, slug: str, object_id: str, note: str | None, position: int | None) -> bool:
        with self._write() as db:
            row = db.execute("SELECT * FROM collection_items WHERE slug=? AND object_id=?", (slug, object_id)).fetchone()
            if row is None:
                return False
            if note is not None:
                db.execute("UPDATE collection_items SET note=? WHERE slug=? AND object_id=?", (note, slug, object_id))
            if position is not None:
                db.execute("UPDATE collection_items SET position=? WHERE slug=? AND object_id=?",
                           (position, slug, object_id))
            db.execute("UPDATE collections SET updated_at=? WHERE slug=?", (utcnow(), slug))
            return True

    def delete_collection_item(self, slug: str, object_id: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM collection_items WHERE slug=? AND object_id=?",
                              (slug, object_id)).rowcount > 0

    def delete_collection(self, slug: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM collection_items WHERE slug=?", (slug,))
            db.execute("DELETE FROM collections WHERE slug=?", (slug,))

