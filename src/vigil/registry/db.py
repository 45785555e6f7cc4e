"""Engines for the registry database and the migrations that bring it to head.

SQLite (the embedded default) and PostgreSQL (at scale) are both first-class:

- SQLite runs in WAL mode with foreign keys on and a busy timeout. SQLAlchemy
  takes over ``BEGIN`` from the ``sqlite3`` driver (the documented pysqlite
  event recipe) so that transactions start with ``BEGIN IMMEDIATE``: a writer
  takes the write lock up front and other writers queue on the busy timeout
  instead of failing half-way with "database is locked". Work that only reads
  goes through :func:`for_reading`, whose transactions start with a deferred
  ``BEGIN`` and never wait behind a writer.
- PostgreSQL (``postgresql+psycopg://``) gets ``pool_pre_ping`` so a replica
  survives a database restart.

:func:`upgrade` runs the packaged Alembic migrations to head, serialised
between processes that start at the same time.

:func:`check_database` runs before that at every start (issue 15): an
embedded database that is damaged, truncated or empty while artifacts are
on disk is refused with one sentence naming the file and what to do, rather
than a page of SQLAlchemy traceback or a silently empty registry.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from vigil.errors import VigilError
from vigil.registry.quick_read import header_problem
from vigil.registry.revisions import MIGRATIONS_DIR, known_revisions, script_head

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseUnusable",
    "check_database",
    "create_engine_for",
    "files_under",
    "for_reading",
    "prepare_database",
    "script_head",
    "to_json",
    "upgrade",
]

# How long a SQLite writer waits for the write lock before giving up. Registry
# transactions last milliseconds; a long wait means a stuck process.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Any fixed 64-bit key works; it only has to be the same in every Vigil process.
_MIGRATION_LOCK_KEY = 0x76_69_67_69_6C_2D_6D_67  # "vigil-mg"

# Alembic's ``context`` and ``op`` are module-level proxies: two threads of one
# process must not run migrations at the same time, even on different databases.
_ALEMBIC_LOCK = threading.Lock()

# The execution option that marks an engine view whose SQLite transactions only read.
_READ_ONLY_OPTION = "vigil_read_only"


class DatabaseUnusable(VigilError):
    """The registry database cannot be used as it is: damaged, empty, unreachable or too new."""

    status = 503
    title = "Database unusable"


# What to do about a damaged embedded database, said once for every case.
_REMEDY = "restore it from a backup, or run `vigil doctor` to see what is left"


def check_database(engine: Engine, *, artifacts_present: bool, thorough: bool = False) -> None:
    """Returns if the database can be used; raises ``DatabaseUnusable`` saying why and what to do.

    SQLite: a zero-byte or missing file while artifacts are on disk (the
    registry that named them is gone), a file whose header is not SQLite's,
    one shorter than its header says (truncated), and with ``thorough``
    (``vigil serve``, ``vigil doctor``) anything ``PRAGMA quick_check``
    finds. PostgreSQL: the connection, and a migration revision this Vigil
    knows (a newer one means newer code wrote the schema).
    """
    if engine.dialect.name == "sqlite":
        _check_sqlite(engine, artifacts_present=artifacts_present, thorough=thorough)
    else:
        _check_server_database(engine)


def sqlite_path(engine: Engine) -> Path | None:
    """Returns the file of a SQLite engine (None for other databases or in memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _check_sqlite(engine: Engine, *, artifacts_present: bool, thorough: bool) -> None:
    path = sqlite_path(engine)
    if path is None:
        return
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        if artifacts_present:
            state = "empty (0 bytes)" if path.exists() else "missing"
            raise DatabaseUnusable(
                f"The database {path} is {state} but the artifact store holds models: "
                f"{_REMEDY} (to start over with an empty registry, move the artifacts away)."
            )
        return  # a first start: SQLite creates the database
    problem = header_problem(path, size)
    if problem is not None:
        raise DatabaseUnusable(f"The database {path} is {problem}: {_REMEDY}.")
    if not thorough:
        return
    try:
        with for_reading(engine).connect() as connection:
            found = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check(5)")]
    except SQLAlchemyError as exc:
        raise DatabaseUnusable(
            f"The database {path} is damaged ({_short(exc)}): {_REMEDY}."
        ) from None
    if found != ["ok"]:
        said = " ".join(str(f) for f in found).replace("*** in database main ***", "")
        said = " ".join(said.split())  # one line, whatever SQLite wrote
        said = said if len(said) <= 160 else said[:157] + "..."
        raise DatabaseUnusable(f"The database {path} is damaged (quick_check: {said}): {_REMEDY}.")


def prepare_database(
    engine: Engine, *, artifacts_present: Callable[[], bool], thorough: bool = False
) -> None:
    """Returns once the database is checked (:func:`check_database`) and migrated to head.

    ``artifacts_present`` is asked only when the embedded database is empty
    or missing. A database that fails while being read or migrated is
    refused in one sentence too (a damaged page the cheap checks missed).
    """
    present: bool | None = None
    path = sqlite_path(engine)
    if path is not None and (not path.exists() or path.stat().st_size == 0):
        present = artifacts_present()
    check_database(engine, artifacts_present=bool(present), thorough=thorough)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        where = path or engine.url.render_as_string(hide_password=True)
        raise DatabaseUnusable(
            f"The database {where} could not be read or migrated ({_short(exc)}): {_REMEDY}."
        ) from None


def files_under(root: object) -> bool:
    """Returns whether an artifact store's local folder holds any file (False for S3)."""
    folder = getattr(root, "root", None)
    if folder is None:
        return False  # an object store: listing it at every start costs too much
    return next((p for p in Path(folder).rglob("*") if p.is_file()), None) is not None


def _check_server_database(engine: Engine) -> None:
    where = engine.url.render_as_string(hide_password=True)
    try:
        with for_reading(engine).connect() as connection:
            try:
                found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            except SQLAlchemyError:
                return  # a new database: the migrations create everything
    except SQLAlchemyError as exc:
        raise DatabaseUnusable(
            f"Cannot reach the database {where} ({_short(exc)}); check VIGIL_DATABASE_URL "
            "and that the server is up."
        ) from None
    known = known_revisions()
    unknown = [row[0] for row in found if known is not None and row[0] not in known]
    if unknown:
        raise DatabaseUnusable(
            f"The database {where} is at migration {unknown[0]}, which this Vigil does not "
            "know (newer code wrote it): upgrade Vigil, or restore a backup."
        )


def _short(exc: BaseException) -> str:
    """Returns the driver's own message of a SQLAlchemy error, on one short line."""
    inner = getattr(exc, "orig", None) or exc
    text_ = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text_ if len(text_) <= 160 else text_[:157] + "..."


def create_engine_for(url: str) -> Engine:
    """Returns an engine for ``url`` configured for safe concurrent use (see the module doc)."""
    parsed = make_url(url)
    options: dict[str, Any] = {"json_serializer": to_json}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **options)


def for_reading(engine: Engine) -> Engine:
    """Returns a view of ``engine`` (same pool) for read-only transactions.

    On SQLite they begin DEFERRED, so readers never queue behind a writer;
    a write attempted through this view may fail with "database is locked".
    Elsewhere the view behaves exactly like ``engine``.
    """
    return engine.execution_options(**{_READ_ONLY_OPTION: True})


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """Sets the per-connection pragmas and hands transaction control to SQLAlchemy."""
    # isolation_level None stops sqlite3 from emitting its own (deferred) BEGIN
    # before DML; _begin_sqlite_transaction emits ours instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # The timeout first: switching to WAL itself needs a lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    """Starts the transaction: IMMEDIATE (write lock now) unless the engine view only reads."""
    if connection.get_execution_options().get(_READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def to_json(value: Any) -> str:
    """Returns ``value`` as strict JSON text, identical on SQLite and PostgreSQL.

    NaN and infinities (an undefined metric, say) become null because
    PostgreSQL refuses them in JSON; NumPy scalars and arrays become plain
    numbers and lists.
    """
    return json.dumps(_portable(value), allow_nan=False, separators=(",", ":"))


def _portable(value: Any) -> Any:
    """Returns ``value`` with every part JSON can represent the same way everywhere."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _portable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(item) for item in value]
    if value is None or isinstance(value, str | int):
        return value
    # NumPy scalars expose item() and arrays tolist(); both give plain Python values.
    for method in ("tolist", "item"):
        convert = getattr(value, method, None)
        if callable(convert):
            return _portable(convert())
    return value


def upgrade(engine: Engine) -> None:
    """Returns once the database behind ``engine`` is migrated to the newest revision.

    Safe when several processes start at once: on PostgreSQL the upgrade holds
    a transaction-scoped advisory lock; on SQLite its ``BEGIN IMMEDIATE``
    transaction is the lock. Each runs all pending migrations in one
    transaction, so the others then find the database at head and do nothing.
    """
    # Every command starts here: a database already at head is seen without importing
    # Alembic (a quarter of a second of a command's start-up).
    if _at_head(engine):
        return
    if engine.dialect.name == "sqlite":
        _upgrade_sqlite(engine)
        return
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        _run_migrations(connection)


def _upgrade_sqlite(engine: Engine) -> None:
    """Runs the migrations on SQLite with foreign-key enforcement paused.

    Batch migrations rebuild a table by copy, drop and rename; with foreign
    keys on, dropping a parent table would cascade-delete its children. The
    pragma is ignored inside a transaction, so it is switched on the raw
    connection before BEGIN, and the result is checked before COMMIT.
    """
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None  # a freshly checked-out connection is always live
        raw.cursor().execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                _run_migrations(connection)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"Migration left rows that break foreign keys: {broken[:5]}")
        finally:
            raw.cursor().execute("PRAGMA foreign_keys = ON")


def _at_head(engine: Engine) -> bool:
    """Returns whether the database is at the newest revision (False when unsure)."""
    head = script_head()
    if head is None:
        return False
    try:
        with for_reading(engine).connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:  # a new database: no alembic_version table yet
        return False
    return [row[0] for row in found] == [head]


def _run_migrations(connection: Connection) -> None:
    """Runs ``alembic upgrade head`` inside the caller's transaction on ``connection``."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    # Config values go through configparser interpolation, where % is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    with _ALEMBIC_LOCK:
        command.upgrade(config, "head")
