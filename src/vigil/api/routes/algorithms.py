"""The algorithm catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil.api.deps import ViewerDep
from vigil.api.problems import problem_responses
from vigil.api.schemas import AlgorithmList

router = APIRouter(
    prefix="/v1/algorithms", tags=["algorithms"], responses=problem_responses(401, 403, 429)
)


@router.get("", response_model=AlgorithmList)
def algorithms(caller: ViewerDep) -> dict[str, Any]:
    """Returns every algorithm with its tasks and hyperparameter schema."""
    # The catalogue's entries import no estimator (each factory imports its own).
    from vigil.algorithms.catalogue import list_algorithms

    return {"algorithms": list_algorithms()}
