"""What the hardening tests share: the admin key of their servers, a model of every kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ADMIN_KEY = "hardening-test-admin-secret"


@dataclass(frozen=True)
class KindModel:
    """A trained model of one kind and rows it answers."""

    name: str
    rows: list[dict[str, Any]]
