"""Typed hyperparameter schemas: what each algorithm accepts and how values are checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vigil.errors import UsageError

_TYPES = ("int", "float", "bool", "str", "choice")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, default, and the allowed range or choices.

    ``nullable`` allows ``None`` (written ``none`` on the command line), e.g. an
    unlimited ``max_depth``.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: Sequence[Any] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"param {self.name}: type must be one of {_TYPES}")

    def allowed(self) -> str:
        """Returns the allowed values in words, for error messages."""
        if self.type == "choice":
            text = "one of " + ", ".join(repr(c) for c in (self.choices or ()))
        elif self.type == "bool":
            text = "true or false"
        elif self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else f"{self.minimum:g}"
            high = "inf" if self.maximum is None else f"{self.maximum:g}"
            bracket = "(" if self.exclusive_minimum else "["
            text = (
                f"{'an integer' if self.type == 'int' else 'a number'} in {bracket}{low}, {high}]"
            )
        else:
            text = {"int": "an integer", "float": "a number", "str": "a string"}[self.type]
        return text + (" or none" if self.nullable else "")

    def to_json(self) -> dict[str, Any]:
        """Returns the schema entry as plain JSON."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default}
        if self.minimum is not None:
            out["minimum"] = self.minimum
            if self.exclusive_minimum:
                out["exclusive_minimum"] = True
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.nullable:
            out["nullable"] = True
        if self.help:
            out["help"] = self.help
        return out

    def coerce(self, value: Any, algorithm: str) -> Any:
        """Returns ``value`` converted to this parameter's type, or raises ``InvalidInput``.

        Values from the command line arrive as text:

        >>> depth = Param("max_depth", "int", None, minimum=1, maximum=1000, nullable=True)
        >>> depth.coerce("12", "random_forest"), depth.coerce("none", "random_forest")
        (12, None)

        A refusal names the values the parameter allows:

        >>> kernel = Param("kernel", "choice", "rbf", choices=("rbf", "linear"))
        >>> for param, value in ((depth, 0), (kernel, "cubic")):
        ...     try:
        ...         param.coerce(value, "svm")
        ...     except UsageError as refusal:
        ...         print(refusal)
        Parameter 'max_depth' of svm must be an integer in [1, 1000] or none, got 0.
        Parameter 'kernel' of svm must be one of 'rbf', 'linear', got 'cubic'.
        """
        if isinstance(value, str):
            value = value.strip()
        if self.nullable and (
            value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        ):
            return None
        try:
            converted = self._convert(value)
        except (TypeError, ValueError):
            converted = _INVALID
        if converted is _INVALID or not self._in_range(converted):
            raise UsageError(
                f"Parameter {self.name!r} of {algorithm} must be {self.allowed()}, got {value!r}.",
                errors=[{"loc": ["params", self.name], "msg": f"must be {self.allowed()}"}],
            )
        return converted

    def _convert(self, value: Any) -> Any:
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no"):
                return False
            return _INVALID
        if self.type == "int":
            if isinstance(value, bool):
                return _INVALID
            number = float(value)
            return int(number) if number.is_integer() else _INVALID
        if self.type == "float":
            if isinstance(value, bool):
                return _INVALID
            return float(value)
        if self.type == "choice":
            for choice in self.choices or ():
                if value == choice or (isinstance(value, str) and str(choice) == value):
                    return choice
            return _INVALID
        return str(value)

    def _in_range(self, value: Any) -> bool:
        if self.type not in ("int", "float"):
            return True
        if self.minimum is not None:
            if self.exclusive_minimum and not value > self.minimum:
                return False
            if not self.exclusive_minimum and value < self.minimum:
                return False
        return self.maximum is None or value <= self.maximum


_INVALID: Any = object()


def resolve_params(
    schema: Sequence[Param], given: Mapping[str, Any], algorithm: str
) -> dict[str, Any]:
    """Returns the defaults overlaid with ``given``, each checked against ``schema``.

    An unknown name is refused with the list of names the algorithm accepts.

    >>> schema = [Param("C", "float", 1.0, minimum=0.0), Param("fit_intercept", "bool", True)]
    >>> resolve_params(schema, {"C": "0.5"}, "logistic_regression")
    {'C': 0.5, 'fit_intercept': True}
    >>> try:
    ...     resolve_params(schema, {"alpha": 1}, "logistic_regression")
    ... except UsageError as refusal:
    ...     print(refusal)
    Unknown parameter 'alpha' for logistic_regression; accepted parameters: C, fit_intercept.
    """
    by_name = {p.name: p for p in schema}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        accepted = ", ".join(sorted(by_name)) or "none"
        raise UsageError(
            f"Unknown parameter {unknown[0]!r} for {algorithm}; accepted parameters: {accepted}.",
            errors=[{"loc": ["params", name], "msg": "unknown parameter"} for name in unknown],
        )
    resolved = {p.name: p.default for p in schema}
    for name, value in given.items():
        resolved[name] = by_name[name].coerce(value, algorithm)
    return resolved
