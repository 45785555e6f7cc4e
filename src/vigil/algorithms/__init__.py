"""The algorithm catalogue and Vigil's own estimators."""

from vigil.algorithms.catalogue import CATALOGUE, AlgorithmSpec, get_algorithm
from vigil.algorithms.params import Param

__all__ = ["CATALOGUE", "AlgorithmSpec", "Param", "get_algorithm"]
