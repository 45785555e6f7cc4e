"""Keys over HTTP: list, revoke, rotate, expiry; revocation seen by every replica."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import REPLICA_FOLLOW_SECONDS, Api

from process_support import Server, eventually, launch_vigil, stop_all


def test_keys_are_listed_without_secrets_and_revoked_with_a_401_after(api: Api) -> None:
    created = api.request("POST", "/v1/keys", json={"role": "viewer", "expires_in_days": 30})
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["state"] == "active" and key["expires_at"] is not None
    listed = api.request("GET", "/v1/keys")
    assert listed.status_code == 200
    ids = {k["id"]: k for k in listed.json()}
    assert ids[key["id"]]["role"] == "viewer"
    assert key["key"] not in listed.text and "secret" not in listed.text
    assert {k["tenant"] for k in listed.json()} == {"default"}

    headers = {"Authorization": f"Bearer {key['key']}"}
    assert api.client.get("/v1/models", headers=headers).status_code == 200
    revoked = api.request("DELETE", f"/v1/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    # The in-process cache lives 2 s on the app's monotonic clock; move past it.
    api.client.app.state.key_cache.ttl = 0  # type: ignore[attr-defined]
    refused = api.client.get("/v1/models", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    audit = api.request("GET", "/v1/audit").json()["events"]
    assert {"key.create", "key.revoke"} <= {e["action"] for e in audit}


def test_another_tenants_key_is_a_404_and_a_viewer_cannot_list(api: Api) -> None:
    acme_keys = api.request("GET", "/v1/keys", tenant="acme").json()
    assert acme_keys and {k["tenant"] for k in acme_keys} == {"acme"}
    default_key = api.request("GET", "/v1/keys").json()[-1]["id"]
    assert api.request("DELETE", f"/v1/keys/{default_key}", tenant="acme").status_code == 404
    assert api.request("GET", "/v1/keys", role="viewer").status_code == 403
    assert api.request("DELETE", "/v1/keys/nosuchkey").status_code == 404


def test_rotation_answers_a_new_key_and_the_old_one_keeps_working(api: Api) -> None:
    old = api.request("POST", "/v1/keys", json={"role": "predictor", "tenant": "acme"}).json()
    rotated = api.request("POST", f"/v1/keys/{old['id']}/rotate", json={"grace_hours": 1})
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert (new["role"], new["tenant"], new["rotated_from"]) == ("predictor", "acme", old["id"])
    for text in (old["key"], new["key"]):
        answer = api.client.get("/v1/models", headers={"Authorization": f"Bearer {text}"})
        assert answer.status_code == 200
    listed = {k["id"]: k for k in api.request("GET", "/v1/keys?tenant=acme").json()}
    assert listed[old["id"]]["expires_at"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"role": "viewer", "expires_in_days": 0},
        {"role": "viewer", "expires_in_days": "3"},
        {"role": "viewer", "expires_in_days": True},
        {"role": "owner"},
    ],
)
def test_a_bad_key_request_is_a_422_naming_the_field(api: Api, body: dict[str, object]) -> None:
    answer = api.request("POST", "/v1/keys", json=body)
    assert answer.status_code == 422
    field = "role" if "owner" in body.values() else "expires_in_days"
    assert field in str(answer.json()["errors"])


@pytest.fixture
def two_servers(trained_home: Path, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Returns two ``vigil serve`` processes over one home (one database), as two replicas."""
    home = tmp_path / "home"
    shutil.copytree(trained_home, home)
    settings = {"VIGIL_SCHEDULER": "0"}
    admin_key = "replica-test-admin-secret"
    # Launched together (imports dominate start-up), then awaited one by one.
    servers = [launch_vigil(["serve"], home, settings, admin_key=admin_key) for _ in range(2)]
    try:
        for server in servers:
            server.started()
        yield servers[0], servers[1]
    finally:
        stop_all(servers)


def test_a_key_revoked_on_one_replica_is_refused_by_the_other(
    two_servers: tuple[Server, Server],
) -> None:
    first, second = two_servers
    admin = {"Authorization": f"Bearer {first.admin_key}"}
    created = httpx.post(f"{first.url}/v1/keys", json={"role": "viewer"}, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    # Both replicas have now seen (and cached) the key.
    assert httpx.get(f"{first.url}/v1/models", headers=headers).status_code == 200
    assert httpx.get(f"{second.url}/v1/models", headers=headers).status_code == 200

    assert httpx.delete(f"{first.url}/v1/keys/{key['id']}", headers=admin).status_code == 200
    for replica in (second, first):
        answer = eventually(
            lambda url=replica.url: httpx.get(f"{url}/v1/models", headers=headers),
            lambda response: response.status_code == 401,
            timeout=REPLICA_FOLLOW_SECONDS,
        )
        assert answer.status_code == 401, answer.text
    listed = httpx.get(f"{second.url}/v1/keys", headers=admin).json()
    assert {k["id"]: k["state"] for k in listed}[key["id"]] == "revoked"
    # The operator's VIGIL_ADMIN_KEY would come back at the next start: refused, not faked.
    kept = httpx.delete(f"{first.url}/v1/keys/environment", headers=admin)
    assert kept.status_code == 409 and "VIGIL_ADMIN_KEY" in kept.json()["detail"]
