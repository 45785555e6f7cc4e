"""Shared test helpers for the service tests (a movable clock, an admin caller)."""

from __future__ import annotations

from vigil.security import Caller

ADMIN = Caller(tenant="default", actor="test:admin", role="admin")
