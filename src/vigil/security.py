"""API keys and roles.

A key is shown once, as ``vk_<id>_<secret>``; only the sha256 of the secret
is stored. Keys are 256-bit random tokens, so a fast hash is enough: there is
nothing to brute-force that a slow hash would protect. The id part lets the
server find the row without scanning, and the secret is compared in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from vigil.errors import Forbidden, InvalidInput, Unauthorized

ROLES = ("viewer", "predictor", "trainer", "admin")
# A scraper's role: it reads /metrics and nothing else, so it stands outside the chain above.
METRICS_ROLE = "metrics"
KEY_ROLES = (*ROLES, METRICS_ROLE)
_PREFIX = "vk"
# The tenant of the operator (VIGIL_ADMIN_KEY, the first admin key): it may administer others.
OPERATOR_TENANT = "default"


@dataclass(frozen=True)
class Caller:
    """Who asks: the tenant whose resources they reach, their role, and the actor recorded.

    The command line acts as an admin of tenant ``default`` (it runs where the
    database is); the API builds a Caller from the presented key.
    """

    tenant: str = "default"
    actor: str = "cli"
    role: str = "admin"
    key_id: str | None = None


def require_role(caller: Caller, required: str) -> None:
    """Raises Forbidden unless the caller's role is at least ``required``."""
    if not role_allows(caller.role, required):
        raise Forbidden(f"This needs the {required} role; the key has {caller.role}.")


def check_tenant(tenant: str) -> str:
    """Returns ``tenant`` if it is a valid tenant name, else raises InvalidInput naming it."""
    if not tenant or len(tenant) > 128 or not all(ch.isalnum() or ch in "-_." for ch in tenant):
        raise InvalidInput(
            f"Tenant {tenant!r} is not allowed; use 1-128 letters, digits, '-', '_' or '.'.",
            errors=[{"loc": ["tenant"], "msg": "invalid tenant"}],
        )
    return tenant


def role_rank(role: str) -> int:
    """Returns the rank of ``role`` (viewer 0 … admin 3), or raises naming the roles.

    >>> role_rank("viewer"), role_rank("admin")
    (0, 3)
    >>> role_rank("owner")
    Traceback (most recent call last):
    ...
    vigil.errors.InvalidInput: Unknown role 'owner'; use one of viewer, predictor, trainer, admin.
    """
    try:
        return ROLES.index(role)
    except ValueError:
        raise InvalidInput(
            f"Unknown role {role!r}; use one of {', '.join(ROLES)}.",
            errors=[{"loc": ["role"], "msg": "unknown role"}],
        ) from None


def check_key_role(role: str) -> str:
    """Returns ``role`` if a key may have it (the chain or ``metrics``), else raises naming them."""
    if role not in KEY_ROLES:
        raise InvalidInput(
            f"Unknown role {role!r}; use one of {', '.join(KEY_ROLES)}.",
            errors=[{"loc": ["role"], "msg": "unknown role"}],
        )
    return role


def role_allows(role: str, required: str) -> bool:
    """Returns whether ``role`` is at least ``required``.

    The ``metrics`` role allows only itself; only an admin may also do what it does.

    >>> role_allows("trainer", "predictor"), role_allows("predictor", "trainer")
    (True, False)
    >>> role_allows("metrics", "viewer"), role_allows("admin", "metrics")
    (False, True)
    """
    if METRICS_ROLE in (role, required):
        return role == required or role == "admin"
    return role_rank(role) >= role_rank(required)


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: its id, the full text to hand out once, and the stored hash."""

    id: str
    text: str
    secret_hash: str


def generate_key() -> NewKey:
    """Returns a new random key."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewKey(key_id, f"{_PREFIX}_{key_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    """Returns the stored form of a key's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(text: str) -> tuple[str, str]:
    """Returns (id, secret) of a presented key, or raises Unauthorized for a malformed one."""
    parts = text.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        raise Unauthorized("The API key is not valid.")
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Returns whether ``secret`` hashes to ``stored_hash`` (constant-time comparison)."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
