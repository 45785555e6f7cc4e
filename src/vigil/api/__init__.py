"""The REST API: a FastAPI app whose routers parse, call ``VigilService`` and render.

``create_app()`` builds it; ``vigil serve`` runs it under uvicorn.
"""

from vigil.api.app import create_app

__all__ = ["create_app"]
