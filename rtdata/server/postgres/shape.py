"""Supabase's shape inside a database, and a project's migrations run on it.

:func:`prepare` makes what a Supabase project has before its first migration (``shape.sql``):
the roles ``anon``, ``authenticated`` and ``service_role`` with Supabase's default grants; the
``auth`` schema with ``auth.users``, ``auth.identities`` and ``auth.uid()``, ``auth.role()``,
``auth.email()`` and ``auth.jwt()`` reading ``request.jwt.claims``; a minimal ``storage``
schema (buckets, objects and the path functions policies use); ``realtime.messages`` and
``realtime.topic()``; the ``extensions`` schema; and the ``supabase_realtime`` publication.

:func:`migrate` runs a project's migration files unchanged, each in its own transaction, in
name order, and records them in ``supabase_migrations.schema_migrations`` as the Supabase CLI
does, so a kept database is not migrated twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from rtdata.server.schema import split_statements

__all__ = ["Applied", "MigrationError", "migrate", "migration_files", "prepare"]

_VERSION: Final = re.compile(r"^(\d+)_?(.*)$")


class MigrationError(RuntimeError):
    """A migration file failed; nothing of that file was applied.

    Attributes:
        file: The migration file.
        line: Line of the failing statement in the file, when the server told where.
        sqlstate: The server's SQLSTATE, when it answered with one.
        missing_extension: The extension the migration asked for and the server lacks.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path,
        line: int | None = None,
        sqlstate: str | None = None,
        missing_extension: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.sqlstate = sqlstate
        self.missing_extension = missing_extension


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`migrate` did.

    Attributes:
        applied: Files run now, in order.
        skipped: Files already recorded as applied.
    """

    applied: tuple[Path, ...]
    skipped: tuple[Path, ...]


def prepare(conn: psycopg.Connection[Any], *, database: str | None = None) -> None:
    """Give the connected database Supabase's shape; safe to run on every start.

    It also sets the database's ``search_path`` to ``"$user", public, extensions``, Supabase's,
    so that functions of extensions created ``with schema extensions`` resolve.

    Args:
        conn: A superuser connection (autocommit or not: the shape is one transaction).
        database: Name of the database for its ``search_path``; the connection's by default.
    """
    text = resources.files(__package__).joinpath("shape.sql").read_text(encoding="utf-8")
    name = database or conn.info.dbname
    with conn.transaction():
        conn.execute(text.encode())
        conn.execute(
            sql.SQL('alter database {} set search_path = "$user", public, extensions').format(
                sql.Identifier(name)
            )
        )
    conn.execute('set search_path = "$user", public, extensions')


def migration_files(source: str | Path) -> tuple[Path, ...]:
    """Return the migration files of ``source``: a ``.sql`` file, or every ``*.sql`` of a
    folder in name order.

    Raises:
        FileNotFoundError: ``source`` is neither.
    """
    root = Path(source)
    if root.is_dir():
        return tuple(sorted(root.glob("*.sql")))
    if root.is_file():
        return (root,)
    raise FileNotFoundError(f"{root}: no such migration file or folder")


def migrate(conn: psycopg.Connection[Any], source: str | Path) -> Applied:
    """Run the migration files of ``source`` that the database has not recorded yet.

    Each file runs whole, as the server receives a script, inside one transaction, and is
    then recorded (its version is the file name's leading digits, or the whole stem).

    Raises:
        MigrationError: A file failed; the message names the file, the line and the server's
            error, and the extension when the server lacks one the file creates.
        FileNotFoundError: ``source`` is not a file or folder.
    """
    files = migration_files(source)
    done = {
        row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations")
    }
    applied: list[Path] = []
    skipped: list[Path] = []
    for file in files:
        version, name = _version(file)
        if version in done:
            skipped.append(file)
            continue
        text = file.read_text(encoding="utf-8")
        try:
            with conn.transaction():
                conn.execute(text.encode())  # no parameters: sent as one script
                conn.execute(
                    "insert into supabase_migrations.schema_migrations (version, name) "
                    "values (%s, %s)",
                    (version, name),
                )
        except psycopg.Error as exc:
            line = _line(text, exc) or _replay(conn, text)
            raise _failure(file, line, exc) from None
        applied.append(file)
    return Applied(tuple(applied), tuple(skipped))


def _version(file: Path) -> tuple[str, str]:
    match = _VERSION.match(file.stem)
    if match is None:
        return file.stem, file.stem
    return match.group(1), match.group(2) or file.stem


_EXTENSION_MISSING: Final = re.compile(r'extension "([^"]+)" is not available')


def _line(text: str, exc: psycopg.Error) -> int | None:
    """The line of the error's position in the script, when the server gave one."""
    position = exc.diag.statement_position
    if not position:
        return None
    return text.encode()[: int(position) - 1].count(b"\n") + 1


def _replay(conn: psycopg.Connection[Any], text: str) -> int | None:
    """Find the line of the failing statement by running the script's statements one by one
    in a transaction that is rolled back; ``None`` when none fails alone."""
    try:
        statements = split_statements(text)
    except Exception:
        return None
    try:
        with conn.transaction(force_rollback=True):
            for statement, line in statements:
                try:
                    with conn.transaction():
                        conn.execute(statement.encode())
                except psycopg.Error:
                    return line
    except psycopg.Error:
        return None
    return None


def _failure(file: Path, line: int | None, exc: psycopg.Error) -> MigrationError:
    diag = exc.diag
    where = f"{file}:{line}" if line else str(file)
    message = diag.message_primary or str(exc).strip()
    missing = None
    if isinstance(exc, pg_errors.FeatureNotSupported | pg_errors.UndefinedFile):
        match = _EXTENSION_MISSING.search(message)
        missing = match.group(1) if match else None
    if missing is not None:
        message = (
            f"the migration needs the extension {missing!r}, which this Postgres does not have"
            " (the embedded one ships plpgsql, moddatetime, pg_trgm, citext, hstore, ltree,"
            " vector and more; point --db at a server that has it)"
        )
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return MigrationError(
        f"{where}: {message}{detail}",
        file=file,
        line=line,
        sqlstate=diag.sqlstate,
        missing_extension=missing,
    )
