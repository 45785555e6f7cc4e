"""Alembic migrations of the registry database; :func:`vigil.registry.db.upgrade` runs them."""
