"""The registry store on SQLite and PostgreSQL: versions, tenants, deployments, history."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from vigil.errors import Conflict, InvalidInput, NotFound
from vigil.registry.entities import NewVersion, VersionRecord
from vigil.registry.store import RegistryStore

MakeVersion = Callable[..., NewVersion]
START = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T = "default"


def add(store: RegistryStore, make_version: MakeVersion, count: int, **changes: Any) -> None:
    """Adds ``count`` versions of model churn in tenant default."""
    for _ in range(count):
        store.add_version(T, "churn", make_version(**changes))


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Returns the results of ``calls`` run in threads released at the same instant.

    Re-raises the first exception a call raised.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- versions ----------------------------------------------------------------------------


def test_first_version_becomes_production_with_a_deploy_event(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    record = store.add_version(T, "churn", make_version(created_by="alice"))
    assert record.version == 1
    model = store.get_model(T, "churn")
    assert model.production_version == 1 and model.latest_version == 1
    assert model.task == "classification" and model.created_by == "alice"
    [event] = store.history(T, "churn")
    assert (event.action, event.version, event.previous_version) == ("deploy", 1, None)
    assert (event.actor, event.reason) == ("alice", "first version")


def test_later_versions_are_not_production_until_deployed(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    model = store.get_model(T, "churn")
    assert model.production_version == 1 and model.latest_version == 3
    assert len(store.history(T, "churn")) == 1


def test_version_numbers_increase_per_model(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    numbers = [store.add_version(T, "churn", make_version()).version for _ in range(3)]
    other = store.add_version(T, "fraud", make_version()).version
    assert numbers == [1, 2, 3] and other == 1
    assert [v.version for v in store.list_versions(T, "churn")] == [1, 2, 3]


def test_version_numbers_are_never_reused_after_a_delete(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.delete_version(T, "churn", 3, actor="alice")
    assert store.add_version(T, "churn", make_version()).version == 4


def test_a_version_of_another_task_is_refused_naming_both(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 1)
    with pytest.raises(InvalidInput) as caught:
        store.add_version(T, "churn", make_version(task="regression"))
    assert "classification" in caught.value.message and "regression" in caught.value.message
    assert store.get_model(T, "churn").latest_version == 1


def test_json_fields_round_trip(store: RegistryStore, make_version: MakeVersion) -> None:
    params = {"hidden": [64, 32], "alpha": 1e-4, "kernel": None, "name": "élan ✓"}
    metrics = {"accuracy": 0.875, "confusion": [[5, 1], [0, 4]], "per_class": {"yes": 0.5}}
    schema = [{"name": "ts", "dtype": "datetime", "nullable": True}]
    extra = {"importance": {"age": 0.25}, "nested": {"deep": [1, {"x": False}]}}
    store.add_version(
        T,
        "churn",
        make_version(params=params, metrics=metrics, feature_schema=schema, extra=extra),
    )
    stored = store.get_version(T, "churn", 1)
    assert stored.params == params and stored.metrics == metrics
    assert stored.feature_schema == schema and stored.extra == extra
    assert stored.library_versions == {"python": "3.11.7", "scikit-learn": "1.5.0"}
    assert list(stored.metrics) == list(metrics)  # key order is kept


def test_undefined_metrics_are_stored_as_null(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    returned = store.add_version(
        T, "churn", make_version(metrics={"roc_auc": math.nan, "f1": 0.5, "x": math.inf})
    )
    stored = store.get_version(T, "churn", 1)
    assert stored.metrics == {"roc_auc": None, "f1": 0.5, "x": None}
    assert returned == stored


def test_version_records_every_field_and_the_clock_time(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    new = make_version(job_id=None, target=None)
    returned = store.add_version(T, "churn", new)
    stored = store.get_version(T, "churn", 1)
    assert returned == stored
    assert (stored.model_name, stored.tenant, stored.version) == ("churn", T, 1)
    assert stored.created_at == START and stored.created_at.tzinfo is not None
    assert stored.job_id is None and stored.target is None
    for field in ("algorithm", "data_fingerprint", "artifact_key", "artifact_sha256"):
        assert getattr(stored, field) == getattr(new, field)
    assert (stored.artifact_hmac, stored.artifact_size) == (new.artifact_hmac, 1234)


def test_a_clock_in_another_time_zone_is_stored_as_utc(
    engine: Engine, make_version: MakeVersion
) -> None:
    paris = datetime(2025, 6, 1, 14, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    store = RegistryStore(engine, now=lambda: paris)
    store.add_version(T, "churn", make_version())
    assert store.get_version(T, "churn", 1).created_at == datetime(2025, 6, 1, 14, 30, tzinfo=UTC)
    assert store.get_model(T, "churn").created_at.utcoffset() == timedelta(0)


def test_list_models_gives_each_models_latest_version(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.add_version(T, "anomalies", make_version(task="anomaly"))
    models = store.list_models(T)
    assert [(m.name, m.latest_version, m.task) for m in models] == [
        ("anomalies", 1, "anomaly"),
        ("churn", 2, "classification"),
    ]
    assert store.list_models("empty-tenant") == []


def test_artifact_keys_lists_every_version_of_every_tenant(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    store.add_version(T, "churn", make_version(artifact_key="default/models/churn/1.vigil"))
    store.add_version(T, "churn", make_version(artifact_key="default/models/churn/2.vigil"))
    store.add_version("acme", "churn", make_version(artifact_key="acme/models/churn/1.vigil"))
    assert store.artifact_keys() == {
        "default/models/churn/1.vigil",
        "default/models/churn/2.vigil",
        "acme/models/churn/1.vigil",
    }


# --- tenants and missing things ------------------------------------------------------------


def test_another_tenants_model_is_not_found(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    attempts: list[Callable[[], Any]] = [
        lambda: store.get_model("acme", "churn"),
        lambda: store.list_versions("acme", "churn"),
        lambda: store.get_version("acme", "churn", 1),
        lambda: store.history("acme", "churn"),
        lambda: store.best_version("acme", "churn", "f1"),
        lambda: store.deploy("acme", "churn", 2, actor="mallory"),
        lambda: store.rollback("acme", "churn", actor="mallory"),
        lambda: store.delete_version("acme", "churn", 2, actor="mallory"),
        lambda: store.delete_model("acme", "churn", actor="mallory"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound, match="churn"):
            attempt()
    assert store.list_models("acme") == []
    assert store.get_model(T, "churn").latest_version == 2


def test_the_same_name_in_two_tenants_is_two_models(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    assert store.add_version("acme", "churn", make_version(task="regression")).version == 1
    assert store.get_model("acme", "churn").task == "regression"
    assert store.get_model(T, "churn").latest_version == 2


def test_a_missing_version_is_not_found_naming_model_and_version(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 1)
    with pytest.raises(NotFound) as caught:
        store.get_version(T, "churn", 7)
    assert "churn" in caught.value.message and "7" in caught.value.message
    with pytest.raises(NotFound, match="churn"):
        store.deploy(T, "churn", 7, actor="alice")


# --- deployments ---------------------------------------------------------------------------


def test_deploy_replace_moves_production_and_records_the_previous_one(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    model = store.deploy(T, "churn", 2, actor="alice", reason="better f1")
    assert model.production_version == 2
    event = store.history(T, "churn")[-1]
    assert (event.action, event.version, event.previous_version) == ("deploy", 2, 1)
    assert (event.actor, event.reason, event.weight) == ("alice", "better f1", None)


def test_deploying_the_production_version_again_records_nothing(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 1)
    model = store.deploy(T, "churn", 1, actor="alice")
    assert model.production_version == 1
    assert len(store.history(T, "churn")) == 1


def test_canary_sets_version_and_weight(store: RegistryStore, make_version: MakeVersion) -> None:
    add(store, make_version, 2)
    model = store.deploy(T, "churn", 2, strategy="canary", weight=10, actor="alice")
    assert (model.production_version, model.canary_version, model.canary_weight) == (1, 2, 10.0)
    event = store.history(T, "churn")[-1]
    assert (event.action, event.version, event.previous_version, event.weight) == (
        "canary",
        2,
        1,
        10.0,
    )


def test_canary_of_all_traffic_is_allowed(store: RegistryStore, make_version: MakeVersion) -> None:
    add(store, make_version, 2)
    model = store.deploy(T, "churn", 2, strategy="canary", weight=100, actor="alice")
    assert (model.canary_version, model.canary_weight) == (2, 100.0)


@pytest.mark.parametrize("weight", [None, 0, -5, 100.5, math.nan, True])
def test_canary_weight_outside_0_to_100_is_invalid(
    store: RegistryStore, make_version: MakeVersion, weight: Any
) -> None:
    add(store, make_version, 2)
    with pytest.raises(InvalidInput, match="weight"):
        store.deploy(T, "churn", 2, strategy="canary", weight=weight, actor="alice")
    assert store.get_model(T, "churn").canary_version is None


def test_a_weight_without_a_canary_is_invalid(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    with pytest.raises(InvalidInput, match="canary"):
        store.deploy(T, "churn", 2, weight=5, actor="alice")


def test_an_unknown_strategy_is_invalid(store: RegistryStore, make_version: MakeVersion) -> None:
    add(store, make_version, 2)
    with pytest.raises(InvalidInput, match="blue_green"):
        store.deploy(T, "churn", 2, strategy="blue_green", actor="alice")


def test_replacing_production_with_the_canary_clears_the_canary(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, strategy="canary", weight=25, actor="alice")
    model = store.deploy(T, "churn", 2, actor="alice")
    assert (model.production_version, model.canary_version, model.canary_weight) == (2, None, 0.0)


def test_shadow_adds_the_version_to_the_shadows(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 3, strategy="shadow", actor="alice")
    model = store.deploy(T, "churn", 2, strategy="shadow", actor="alice")
    assert model.shadow_versions == (2, 3) and model.production_version == 1
    again = store.deploy(T, "churn", 2, strategy="shadow", actor="alice")
    assert again.shadow_versions == (2, 3)
    assert [e.action for e in store.history(T, "churn")] == ["deploy", "shadow", "shadow"]


def test_a_shadow_becomes_the_canary_and_leaves_the_shadows(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, strategy="shadow", actor="alice")
    model = store.deploy(T, "churn", 2, strategy="canary", weight=5, actor="alice")
    assert model.canary_version == 2 and model.shadow_versions == ()


@pytest.mark.parametrize("strategy, weight", [("canary", 10.0), ("shadow", None)])
def test_the_production_version_cannot_be_its_own_canary_or_shadow(
    store: RegistryStore, make_version: MakeVersion, strategy: str, weight: float | None
) -> None:
    add(store, make_version, 1)
    with pytest.raises(Conflict, match="production"):
        store.deploy(T, "churn", 1, strategy=strategy, weight=weight, actor="alice")


def test_undeploy_removes_the_canary_and_a_shadow(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 2, strategy="canary", weight=10, actor="alice")
    store.deploy(T, "churn", 3, strategy="shadow", actor="alice")
    store.undeploy(T, "churn", 2, actor="bob", reason="canary errors")
    model = store.undeploy(T, "churn", 3, actor="bob", reason="enough data")
    assert (model.canary_version, model.canary_weight, model.shadow_versions) == (None, 0.0, ())
    assert model.production_version == 1
    events = store.history(T, "churn")[-2:]
    assert [(e.action, e.version, e.actor, e.reason) for e in events] == [
        ("undeploy", 2, "bob", "canary errors"),
        ("undeploy", 3, "bob", "enough data"),
    ]


def test_undeploying_production_or_an_undeployed_version_is_a_conflict(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    with pytest.raises(Conflict, match="production"):
        store.undeploy(T, "churn", 1, actor="bob")
    with pytest.raises(Conflict, match="neither canary nor shadow"):
        store.undeploy(T, "churn", 2, actor="bob")


# --- rollback ------------------------------------------------------------------------------


def test_rollback_returns_to_previous_production(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 2, actor="alice")
    store.deploy(T, "churn", 3, actor="alice")
    model = store.rollback(T, "churn", actor="bob", reason="error rate up")
    assert model.production_version == 2
    event = store.history(T, "churn")[-1]
    assert (event.action, event.version, event.previous_version) == ("rollback", 2, 3)
    assert (event.actor, event.reason) == ("bob", "error rate up")


def test_rolling_back_twice_goes_back_two_deployments(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 2, actor="alice")
    store.deploy(T, "churn", 3, actor="alice")
    assert store.rollback(T, "churn", actor="bob").production_version == 2
    assert store.rollback(T, "churn", actor="bob").production_version == 1
    with pytest.raises(Conflict, match="no earlier production version"):
        store.rollback(T, "churn", actor="bob")


def test_rollback_follows_redeployments_of_an_older_version(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, actor="alice")
    store.deploy(T, "churn", 1, actor="alice")
    assert store.rollback(T, "churn", actor="bob").production_version == 2


def test_rollback_to_a_named_version(store: RegistryStore, make_version: MakeVersion) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 3, actor="alice")
    model = store.rollback(T, "churn", to_version=2, actor="bob")
    assert model.production_version == 2
    event = store.history(T, "churn")[-1]
    assert (event.action, event.version, event.previous_version) == ("rollback", 2, 3)
    # The named rollback counts as a deployment: undoing it returns to version 3.
    assert store.rollback(T, "churn", actor="bob").production_version == 3


def test_rollback_from_a_version_no_longer_production_is_a_conflict(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 2, actor="alice")
    # Judged on version 2, but version 3 was deployed before the rollback ran.
    store.deploy(T, "churn", 3, actor="carol")
    with pytest.raises(Conflict, match="no longer version 2"):
        store.rollback(T, "churn", from_version=2, actor="policy")
    assert store.get_model(T, "churn").production_version == 3
    assert store.history(T, "churn")[-1].action == "deploy"
    assert store.rollback(T, "churn", from_version=3, actor="policy").production_version == 2


def test_rollback_to_a_missing_version_is_not_found(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    with pytest.raises(NotFound, match="9"):
        store.rollback(T, "churn", to_version=9, actor="bob")


def test_rollback_without_a_previous_production_is_a_conflict(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    with pytest.raises(Conflict, match="no earlier production version"):
        store.rollback(T, "churn", actor="bob")
    assert len(store.history(T, "churn")) == 1


def test_rollback_skips_versions_deleted_since(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    store.deploy(T, "churn", 2, actor="alice")
    store.deploy(T, "churn", 3, actor="alice")
    store.delete_version(T, "churn", 2, actor="alice")
    assert store.rollback(T, "churn", actor="bob").production_version == 1


def test_rolling_back_to_the_canary_clears_the_canary(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, actor="alice")
    store.deploy(T, "churn", 1, strategy="canary", weight=50, actor="alice")
    model = store.rollback(T, "churn", actor="bob")
    assert (model.production_version, model.canary_version) == (1, None)


# --- deletion ------------------------------------------------------------------------------


def test_deleting_the_production_version_is_a_conflict(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    with pytest.raises(Conflict, match="deploy another version first"):
        store.delete_version(T, "churn", 1, actor="alice")
    assert [v.version for v in store.list_versions(T, "churn")] == [1, 2]


@pytest.mark.parametrize("strategy, weight", [("canary", 10.0), ("shadow", None)])
def test_deleting_a_canary_or_shadow_version_is_a_conflict(
    store: RegistryStore, make_version: MakeVersion, strategy: str, weight: float | None
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, strategy=strategy, weight=weight, actor="alice")
    with pytest.raises(Conflict, match="undeploy it first"):
        store.delete_version(T, "churn", 2, actor="alice")


def test_deleting_another_version_returns_it_and_records_the_event(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 1)
    store.add_version(T, "churn", make_version(artifact_key="default/models/churn/2.vigil"))
    deleted = store.delete_version(T, "churn", 2, actor="alice")
    assert (deleted.version, deleted.artifact_key) == (2, "default/models/churn/2.vigil")
    assert [v.version for v in store.list_versions(T, "churn")] == [1]
    assert store.artifact_keys() == {"default/models/churn/artifact.vigil"}
    event = store.history(T, "churn")[-1]
    assert (event.action, event.version, event.actor) == ("delete_version", 2, "alice")
    with pytest.raises(NotFound):
        store.get_version(T, "churn", 2)


def test_delete_model_removes_versions_and_history_and_returns_the_versions(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 2)
    store.deploy(T, "churn", 2, actor="alice")
    store.add_version(T, "fraud", make_version())
    deleted = store.delete_model(T, "churn", actor="alice")
    assert [v.version for v in deleted] == [1, 2]
    with pytest.raises(NotFound):
        store.get_model(T, "churn")
    assert [m.name for m in store.list_models(T)] == ["fraud"]
    assert len(store.history(T, "fraud")) == 1
    # A new model of the same name starts over, at version 1 with a fresh history.
    assert store.add_version(T, "churn", make_version(task="regression")).version == 1
    assert len(store.history(T, "churn")) == 1


# --- history and best version --------------------------------------------------------------


def test_history_is_oldest_first_with_every_field(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)  # clock: START, START+1s, START+2s
    store.deploy(T, "churn", 2, actor="alice", reason="r1")  # START+3s
    store.deploy(T, "churn", 3, strategy="canary", weight=20, actor="bob", reason="r2")
    store.rollback(T, "churn", actor="carol", reason="r3")
    history = store.history(T, "churn")
    assert [
        (e.action, e.version, e.previous_version, e.weight, e.actor, e.reason) for e in history
    ] == [
        ("deploy", 1, None, None, "tester", "first version"),
        ("deploy", 2, 1, None, "alice", "r1"),
        ("canary", 3, 2, 20.0, "bob", "r2"),
        ("rollback", 1, 2, None, "carol", "r3"),
    ]
    assert [e.created_at for e in history] == [START + timedelta(seconds=s) for s in (0, 3, 4, 5)]
    assert {e.model_name for e in history} == {"churn"}
    assert [e.id for e in history] == sorted(e.id for e in history)


def test_best_version_is_the_highest_for_a_score(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    for f1 in (0.7, 0.9, 0.8):
        store.add_version(T, "churn", make_version(metrics={"f1": f1}))
    assert store.best_version(T, "churn", "f1").version == 2


def test_best_version_is_the_lowest_for_an_error(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    for rmse in (3.0, 1.5, 2.0):
        store.add_version(T, "churn", make_version(task="regression", metrics={"rmse": rmse}))
    assert store.best_version(T, "churn", "rmse").version == 2


def test_best_version_ignores_versions_without_the_metric_and_prefers_the_earliest_tie(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    for metrics in ({"f1": 0.5}, {"accuracy": 0.99}, {"f1": 0.75}, {"f1": 0.75}, {"f1": None}):
        store.add_version(T, "churn", make_version(metrics=metrics))
    best: VersionRecord = store.best_version(T, "churn", "f1")
    assert best.version == 3


def test_best_version_by_a_metric_no_version_has_lists_the_available_ones(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    store.add_version(T, "churn", make_version(metrics={"f1": 0.5, "accuracy": 0.7}))
    with pytest.raises(InvalidInput) as caught:
        store.best_version(T, "churn", "rmse")
    assert "rmse" in caught.value.message and "accuracy, f1" in caught.value.message


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_deploys_leave_one_production_and_both_events_in_order(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    add(store, make_version, 3)
    run_together(
        lambda: store.deploy(T, "churn", 2, actor="alice"),
        lambda: store.deploy(T, "churn", 3, actor="bob"),
    )
    model = store.get_model(T, "churn")
    first, second = store.history(T, "churn")[1:]
    assert {first.version, second.version} == {2, 3}
    # Serialised: the second saw the first's result, and production is the last one.
    assert first.previous_version == 1 and second.previous_version == first.version
    assert model.production_version == second.version


def test_concurrent_add_version_gives_distinct_consecutive_numbers(
    store: RegistryStore, make_version: MakeVersion
) -> None:
    count = 6
    records = run_together(
        *[lambda: store.add_version(T, "churn", make_version()) for _ in range(count)]
    )
    assert sorted(r.version for r in records) == list(range(1, count + 1))
    assert store.get_model(T, "churn").production_version == 1
    assert [e.action for e in store.history(T, "churn")] == ["deploy"]
