"""A small Python client of the Vigil REST API.

Training data is a local file (uploaded first), a dataset id, inline rows,
or a data reference mapping (``{"url": ...}``, ``{"sql": ...}``):

>>> from vigil import Client
>>> with Client("http://127.0.0.1:8000", "vk_...") as vigil:  # doctest: +SKIP
...     job = vigil.train("churn", "examples/churn.csv", target="churned")
...     vigil.wait_for_job(job["id"], timeout=300)["status"]
'succeeded'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias, cast

import httpx

FINISHED_JOB_STATES = frozenset({"succeeded", "failed", "cancelled"})

# What ``Client.train`` learns from: a local file (a ``str`` with a dot or a path
# separator, or any path object), a dataset id, inline rows, or a data reference.
TrainingData: TypeAlias = str | os.PathLike[str] | Sequence[Mapping[str, Any]] | Mapping[str, Any]


class ClientError(Exception):
    """The server refused a request; ``problem`` is its problem+json document."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.title = str(problem.get("title", "Error"))
        self.detail = str(problem.get("detail", ""))
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        self.request_id: str | None = problem.get("request_id")
        super().__init__(f"{status} {self.title}: {self.detail}")


class JobTimeout(TimeoutError):
    """A job did not finish within the time the caller was willing to wait."""


class Client:
    """Calls a Vigil server with one API key; every method returns the decoded JSON answer."""

    def __init__(
        self,
        url: str,
        key: str | None,
        *,
        timeout: float = 30.0,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Connects to ``url`` with ``key``; ``http`` replaces the connection pool (tests)."""
        self.url = url.rstrip("/")
        self._auth = {"Authorization": f"Bearer {key}"} if key else {}
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep
        self._clock = clock

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection pool (unless it was handed in)."""
        if self._owns_http:
            self._http.close()

    # --- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, self.url + path, headers=self._auth, **kwargs)
        if response.is_error:
            raise ClientError(response.status_code, _problem_of(response))
        return response.json()

    # --- service ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Returns ``{"status": "ok", "version": ...}``."""
        result: dict[str, Any] = self._request("GET", "/health")
        return result

    def algorithms(self) -> list[dict[str, Any]]:
        """Returns the algorithm catalogue."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/algorithms")["algorithms"]
        return result

    # --- datasets and training ------------------------------------------------------

    def create_dataset(
        self,
        *,
        rows: Sequence[Mapping[str, Any]] | None = None,
        path: str | Path | None = None,
        name: str = "",
    ) -> dict[str, Any]:
        """Returns the stored dataset made from inline ``rows`` or the file at ``path``."""
        if (rows is None) == (path is None):
            raise ValueError("Give either rows or path.")
        if path is not None:
            file = Path(path)
            with file.open("rb") as handle:
                result: dict[str, Any] = self._request(
                    "POST",
                    "/v1/datasets",
                    files={"file": (file.name, handle)},
                    data={"name": name or file.name},
                )
            return result
        result = self._request(
            "POST", "/v1/datasets", json={"name": name, "rows": list(rows or [])}
        )
        return result

    def dataset(self, dataset_id: str) -> dict[str, Any]:
        """Returns a dataset's description."""
        result: dict[str, Any] = self._request("GET", f"/v1/datasets/{dataset_id}")
        return result

    def train(self, name: str, data: TrainingData, **fields: Any) -> dict[str, Any]:
        """Returns the queued training job of a new version of ``name``.

        ``data`` is a local file (a path object, or a ``str`` with a dot or a
        path separator: uploaded first with ``POST /v1/datasets``), a dataset
        id, a list of rows, or a data reference as the API takes it
        (``{"dataset_id"}``, ``{"rows"}``, ``{"url"}`` or ``{"sql"}``).
        ``fields`` are the other train fields (task, algorithm, target,
        features, params, test_size, cv, seed, deploy).
        """
        body = {"data": self._data_reference(data), **fields}
        accepted = self._request("POST", f"/v1/models/{name}/train", json=body)
        return self.job(accepted["job_id"])

    def _data_reference(self, data: TrainingData) -> dict[str, Any]:
        """Returns the train body's ``data`` for ``data``, uploading a local file first."""
        if isinstance(data, Mapping):
            return dict(data)
        if isinstance(data, str) and not _names_a_file(data):
            return {"dataset_id": data}
        if isinstance(data, str | os.PathLike):
            return {"dataset_id": self.create_dataset(path=os.fspath(data))["id"]}
        if isinstance(data, Sequence) and all(isinstance(row, Mapping) for row in data):
            rows = cast("Sequence[Mapping[str, Any]]", data)
            return {"rows": [dict(row) for row in rows]}
        raise TypeError(
            "Training data is a file path, a dataset id, a list of rows (dicts) or a data "
            f"reference (dict), not {type(data).__name__}."
        )

    def job(self, job_id: str) -> dict[str, Any]:
        """Returns a job: status, progress, and its result or error."""
        result: dict[str, Any] = self._request("GET", f"/v1/jobs/{job_id}")
        return result

    def jobs(self) -> list[dict[str, Any]]:
        """Returns the tenant's recent jobs, newest first."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/jobs")["jobs"]
        return result

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Returns the job after asking it to stop."""
        result: dict[str, Any] = self._request("POST", f"/v1/jobs/{job_id}/cancel")
        return result

    def wait_for_job(
        self, job_id: str, timeout: float = 600.0, poll_interval: float = 0.2
    ) -> dict[str, Any]:
        """Returns the job once it has finished (succeeded, failed or cancelled).

        Raises JobTimeout if it is still running after ``timeout`` seconds; the
        job itself goes on.
        """
        deadline = self._clock() + timeout
        while True:
            job = self.job(job_id)
            if job["status"] in FINISHED_JOB_STATES:
                return job
            if self._clock() >= deadline:
                raise JobTimeout(
                    f"Job {job_id} is still {job['status']} after {timeout:g} seconds."
                )
            self._sleep(poll_interval)

    # --- models ----------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Returns the tenant's models."""
        result: list[dict[str, Any]] = self._request("GET", "/v1/models")["models"]
        return result

    def model(self, name: str) -> dict[str, Any]:
        """Returns one model and its deployment pointers."""
        result: dict[str, Any] = self._request("GET", f"/v1/models/{name}")
        return result

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Returns the model's versions, oldest first."""
        result: list[dict[str, Any]] = self._request("GET", f"/v1/models/{name}/versions")[
            "versions"
        ]
        return result

    def version(self, name: str, version: int) -> dict[str, Any]:
        """Returns one version."""
        result: dict[str, Any] = self._request("GET", f"/v1/models/{name}/versions/{version}")
        return result

    def deployments(self, name: str) -> list[dict[str, Any]]:
        """Returns the model's deployment history, oldest first."""
        result: list[dict[str, Any]] = self._request("GET", f"/v1/models/{name}/deployments")[
            "history"
        ]
        return result

    def deploy(
        self,
        name: str,
        version: int,
        *,
        strategy: str = "replace",
        weight: float | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Returns the model after deploying ``version`` (replace, canary or shadow)."""
        body: dict[str, Any] = {"version": version, "strategy": strategy, "reason": reason}
        if weight is not None:
            body["weight"] = weight
        result: dict[str, Any] = self._request("POST", f"/v1/models/{name}/deploy", json=body)
        return result

    def rollback(self, name: str, *, to: int | None = None, reason: str = "") -> dict[str, Any]:
        """Returns the model after production went back (to ``to`` or the previous version)."""
        body: dict[str, Any] = {"reason": reason}
        if to is not None:
            body["version"] = to
        result: dict[str, Any] = self._request("POST", f"/v1/models/{name}/rollback", json=body)
        return result

    def delete_model(self, name: str) -> dict[str, Any]:
        """Deletes a model and all its versions."""
        result: dict[str, Any] = self._request("DELETE", f"/v1/models/{name}")
        return result

    def delete_version(self, name: str, version: int) -> dict[str, Any]:
        """Deletes one version of a model."""
        result: dict[str, Any] = self._request("DELETE", f"/v1/models/{name}/versions/{version}")
        return result

    def predict(
        self,
        name: str,
        instances: Sequence[Mapping[str, Any]],
        *,
        version: int | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """Returns ``{"model", "predictions"}``: one prediction per instance, in order."""
        body: dict[str, Any] = {"instances": list(instances), "explain": explain}
        if version is not None:
            body["version"] = version
        result: dict[str, Any] = self._request("POST", f"/v1/models/{name}/predict", json=body)
        return result

    def forecast(
        self,
        name: str,
        horizon: int,
        *,
        series: Sequence[str] | None = None,
        history: Sequence[Mapping[str, Any]] | None = None,
        level: Sequence[int] | None = None,
        version: int | None = None,
    ) -> dict[str, Any]:
        """Returns a forecast model's ``{"model", "predictions"}``: per series and future time,
        ``forecast`` with ``lo_<level>``/``hi_<level>``; ``history`` holds newer rows to
        forecast from (in the training columns)."""
        body: dict[str, Any] = {"horizon": horizon}
        optional = {"series": series, "history": history, "level": level, "version": version}
        for field_name, value in optional.items():
            if value is not None:
                body[field_name] = value if isinstance(value, int) else list(value)
        result: dict[str, Any] = self._request("POST", f"/v1/models/{name}/predict", json=body)
        return result

    def events(
        self, name: str, events: Sequence[Any], *, flush: bool = False, return_all: bool = False
    ) -> dict[str, Any]:
        """Returns the answer to a batch of stream events: ``{"model", "version", "accepted",
        "anomalies", "rejected", "incidents"}`` (and ``"predictions"`` with ``return_all``)."""
        path = f"/v1/models/{name}/events" + ("?return=all" if return_all else "")
        body = {"events": list(events), "flush": flush}
        result: dict[str, Any] = self._request("POST", path, json=body)
        return result

    def incidents(self, name: str, *, status: str | None = None) -> list[dict[str, Any]]:
        """Returns the model's incidents, newest first (only those with ``status`` if given)."""
        params = {"status": status} if status else None
        result: list[dict[str, Any]] = self._request(
            "GET", f"/v1/models/{name}/incidents", params=params
        )["incidents"]
        return result

    # --- monitoring ------------------------------------------------------------------

    def feedback(self, name: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Sends ground truth (``{"prediction_id", "actual"}`` items); returns how it joined."""
        result: dict[str, Any] = self._request(
            "POST", f"/v1/models/{name}/feedback", json={"items": list(items)}
        )
        return result

    def performance(self, name: str) -> dict[str, Any]:
        """Returns live metrics per version over recent windows."""
        result: dict[str, Any] = self._request("GET", f"/v1/models/{name}/performance")
        return result

    def drift(self, name: str, *, version: int | None = None) -> dict[str, Any]:
        """Returns drift of recent production inputs against the training sample."""
        params = {"version": version} if version is not None else {}
        result: dict[str, Any] = self._request("GET", f"/v1/models/{name}/drift", params=params)
        return result

    # --- administration --------------------------------------------------------------

    def create_key(self, role: str, tenant: str | None = None) -> dict[str, Any]:
        """Returns a new key (``key`` is shown this once)."""
        body: dict[str, Any] = {"role": role}
        if tenant is not None:
            body["tenant"] = tenant
        result: dict[str, Any] = self._request("POST", "/v1/keys", json=body)
        return result

    def audit(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """Returns the tenant's audit events, newest first."""
        result: list[dict[str, Any]] = self._request(
            "GET", "/v1/audit", params={"limit": limit, "offset": offset}
        )["events"]
        return result


def _names_a_file(text: str) -> bool:
    """Returns whether ``text`` is a file path rather than a dataset id (ids have no dots)."""
    return "." in text or "/" in text or os.sep in text


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    """Returns the problem document of an error response (or one made up from its text)."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        return document
    return {
        "type": "about:blank",
        "title": response.reason_phrase or "Error",
        "status": response.status_code,
        "detail": response.text[:500],
    }
