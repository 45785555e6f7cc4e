"""The registry: models, their immutable versions, deployments and artifacts.

``RegistryStore`` owns the database (SQLAlchemy 2 + Alembic); ``ArtifactStore``
owns the bytes (a folder or S3). Both return plain entities, never ORM rows.
"""
