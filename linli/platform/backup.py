"""Logical backups of the whole database (hypertables included) with `pg_dump` / `pg_restore`.

Restore follows TimescaleDB's documented procedure for logical backups: the target database gets the
extension first, at the version the dump was taken with, then `timescaledb_pre_restore()`, `pg_restore`,
`timescaledb_post_restore()`. Roles are cluster-wide and not in a database dump: restore refuses, naming
them, when the target cluster lacks one the dump refers to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

Progress = Callable[[str], None]
# Roles every cluster has; a dump may grant to them without the target needing anything.
BUILTIN_ROLES = frozenset({"PUBLIC", "postgres"})
ROLE = r'("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
ROLE_REFERENCES = re.compile(
    rf"^(?:ALTER .* OWNER TO {ROLE}|GRANT .* TO {ROLE}|REVOKE .* FROM {ROLE}|ALTER DEFAULT PRIVILEGES FOR ROLE {ROLE})",
    re.MULTILINE,
)
DUMP_VERSION = re.compile(r"^timescaledb_version\t([^\t]+)\t", re.MULTILINE)
VERBOSE_OBJECT = re.compile(r'(?:dumping contents of table|processing data for table) "([^"]+)"')


class BackupError(Exception):
    """A backup or restore step failed; the message is one line saying which and why."""


@dataclass(frozen=True)
class Server:
    """Where to connect: a libpq URL without the password (it travels in PGPASSWORD, never in argv)."""

    url: str
    password: str | None

    @classmethod
    def from_sqlalchemy(cls, url: str, *, database: str | None = None) -> Server:
        parsed = make_url(url).set(drivername="postgresql")
        if database is not None:
            parsed = parsed.set(database=database)
        return cls(parsed.set(password=None).render_as_string(hide_password=False), parsed.password)

    @property
    def database(self) -> str:
        database = make_url(self.url).database
        if not database:
            raise BackupError("the database URL names no database")
        return database

    def on(self, database: str) -> Server:
        return Server(make_url(self.url).set(database=database).render_as_string(hide_password=False), self.password)

    def env(self) -> dict[str, str]:
        return {**os.environ, **({"PGPASSWORD": self.password} if self.password else {})}

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        try:
            conn = psycopg.connect(self.url, password=self.password, autocommit=True)
        except psycopg.OperationalError as exc:
            raise BackupError(f"database unavailable ({str(exc).strip().splitlines()[0]})") from None
        with conn:
            yield conn


def pg_tool(name: str, server: Server) -> str:
    """The `pg_dump` / `pg_restore` able to talk to this server: the Debian/Ubuntu path of the server's
    major version first, then PATH. pg_dump refuses a server newer than itself, so older ones are skipped."""
    with server.on("postgres").connect() as conn:  # the target database may not exist yet
        major = int(str(conn.execute("show server_version_num").fetchone()[0])) // 10000  # type: ignore[index]
    for candidate in (f"/usr/lib/postgresql/{major}/bin/{name}", shutil.which(name)):
        if candidate and os.access(candidate, os.X_OK):
            found = re.search(
                r"\) (\d+)", subprocess.run([candidate, "--version"], capture_output=True, text=True).stdout
            )
            if found and int(found.group(1)) >= major:
                return candidate
    raise BackupError(f"no {name} of PostgreSQL {major} or newer (install postgresql-client-{major})")


def _run(command: list[str], server: Server, progress: Progress, what: str) -> None:
    """Run a PostgreSQL client with --verbose, report each table it reaches, fail with its first error."""
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=server.env())
    assert proc.stderr is not None
    errors: list[str] = []
    for line in proc.stderr:
        if found := VERBOSE_OBJECT.search(line):
            progress(f"{what} {found.group(1)}")
        elif "error:" in line:
            errors.append(line.strip())
    if proc.wait() != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {errors[0] if errors else f'exit {proc.returncode}'}")


def backup(*, url: str, target: Path, progress: Progress, keep: int | None = None) -> Path:
    """Dump the whole database of `url` (custom format) into `target`, or into a timestamped file when
    `target` is a directory; there, `keep` removes all but the newest `keep` dumps of this database
    afterwards. Returns the file written."""
    server = Server.from_sqlalchemy(url)
    directory = target if target.is_dir() else None
    if keep is not None and (directory is None or keep < 1):
        raise BackupError("--keep needs a directory to write into and a count of at least 1")
    if directory is not None:
        target = directory / f"linli-{server.database}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"
    partial = target.with_name(target.name + ".partial")  # a failed run never leaves a file that looks whole
    command = [pg_tool("pg_dump", server), "--format=custom", "--verbose", f"--file={partial}", server.url]
    try:
        _run(command, server, progress, "dumping")
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    if directory is not None and keep is not None:
        # The names sort by time: the UTC timestamp is fixed-width.
        for old in sorted(directory.glob(f"linli-{server.database}-*.dump"), reverse=True)[keep:]:
            old.unlink()
    return target


def _dump_text(pg_restore: str, dump: Path, *options: str) -> str:
    done = subprocess.run([pg_restore, *options, "--file=-", str(dump)], capture_output=True, text=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        raise BackupError(f"{dump} is not a readable pg_dump archive ({reason[-1]})")
    return done.stdout


def dump_timescaledb_version(pg_restore: str, dump: Path) -> str:
    """The TimescaleDB version the dump was taken with (the extension's own metadata table is in it)."""
    metadata = _dump_text(pg_restore, dump, "--data-only", "--schema=_timescaledb_catalog", "--table=metadata")
    if not (found := DUMP_VERSION.search(metadata)):
        raise BackupError(f"{dump} holds no TimescaleDB database (no timescaledb_version in its metadata)")
    return found.group(1)


def dump_roles(pg_restore: str, dump: Path) -> set[str]:
    """Every role the dump's objects are owned by or granted to."""
    roles = set()
    for match in ROLE_REFERENCES.finditer(_dump_text(pg_restore, dump, "--schema-only")):
        role = next(g for g in match.groups() if g)
        roles.add(role[1:-1].replace('""', '"') if role.startswith('"') else role)
    return roles - BUILTIN_ROLES


def _prepare_target(server: Server, version: str, roles: set[str]) -> bool:
    """Check the cluster and create the target database if absent; True if this call created it."""
    with server.on("postgres").connect() as conn:
        present = {r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)", [list(roles)])}
        if missing := sorted(roles - present):
            raise BackupError(
                f"roles missing on the target cluster: {', '.join(missing)} — restore them first "
                "(`pg_dumpall --roles-only` from the source cluster, fed to psql on the target)"
            )
        if not conn.execute(
            "select 1 from pg_available_extension_versions where name = 'timescaledb' and version = %s", [version]
        ).fetchone():
            raise BackupError(f"the dump needs TimescaleDB {version}, which the target cluster does not offer")
        if conn.execute("select 1 from pg_database where datname = %s", [server.database]).fetchone():
            return False
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(server.database)))
        return True


def _require_empty(conn: psycopg.Connection, database: str, version: str) -> None:
    objects = conn.execute(
        r"""select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname not in ('information_schema') and n.nspname not like 'pg\_%'
              and n.nspname not like '\_timescaledb%' and n.nspname not like 'timescaledb\_%'"""
    ).fetchone()
    if objects and objects[0]:
        raise BackupError(f"database {database} is not empty; restore into a new one (--database) or drop it")
    installed = conn.execute("select extversion from pg_extension where extname = 'timescaledb'").fetchone()
    if installed and installed[0] != version:
        raise BackupError(f"database {database} has TimescaleDB {installed[0]}, the dump needs {version}")


def restore(*, url: str, dump: Path, database: str | None, progress: Progress) -> str:
    """Restore `dump` into `database` (default: the URL's) on the URL's server, created if absent and
    otherwise required to be empty. Returns the database name."""
    if not dump.is_file():
        raise BackupError(f"no such file: {dump}")
    server = Server.from_sqlalchemy(url, database=database)
    pg_restore = pg_tool("pg_restore", server)
    progress("reading the dump")
    version = dump_timescaledb_version(pg_restore, dump)
    created = _prepare_target(server, version, dump_roles(pg_restore, dump))
    try:
        with server.connect() as conn:
            _require_empty(conn, server.database, version)
            conn.execute(sql.SQL("create extension if not exists timescaledb version {}").format(sql.Literal(version)))
            conn.execute("select timescaledb_pre_restore()")
            try:
                command = [pg_restore, "--exit-on-error", "--single-transaction", "--verbose", "--no-password"]
                _run([*command, f"--dbname={server.url}", str(dump)], server, progress, "restoring")
            finally:
                conn.execute("select timescaledb_post_restore()")
            progress("analyzing")
            conn.execute("analyze")
    except BackupError:
        if created:  # leave nothing half-made behind
            with server.on("postgres").connect() as conn:
                conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(server.database)))
        raise
    return server.database
