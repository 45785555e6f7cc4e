"""The packaged migrations' revisions, read from their scripts without importing Alembic.

Light on purpose (no SQLAlchemy): ``registry.db`` asks it whether a database
is at head before it runs Alembic, and ``registry.quick_read`` before it
reads a registry with the standard library's sqlite3.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

__all__ = ["MIGRATIONS_DIR", "known_revisions", "script_head"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# A line of a migration script naming its revision or the one it follows.
_REVISION_LINE = re.compile(
    r"""^(revision|down_revision)\b[^=\n]*=\s*(?:"([^"]+)"|'([^']+)'|None)\s*$""", re.MULTILINE
)


@functools.cache
def known_revisions() -> frozenset[str] | None:
    """Returns every revision of the packaged migrations (None if a script cannot be read)."""
    revisions = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m[1]: m[2] or m[3] for m in _REVISION_LINE.finditer(script.read_text())}
        if not found.get("revision"):
            return None
        revisions.add(found["revision"])
    return frozenset(revisions)


@functools.cache
def script_head() -> str | None:
    """Returns the newest revision of the packaged migrations, read from their scripts.

    None when the scripts are not a simple chain (a branch, a merge, a revision
    not written as a plain string): then only Alembic itself can tell.
    """
    revisions: set[str] = set()
    followed: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m[1]: m[2] or m[3] for m in _REVISION_LINE.finditer(script.read_text())}
        if not found.get("revision") or "down_revision" not in found:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            followed.add(found["down_revision"])
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None
