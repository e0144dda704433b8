"""`linli backup` / `linli restore`: the seeded test database, dumped and restored into a fresh one, keeps
its rows (telemetry hypertable included), its audit chains verify there and its signed RLS scopes work.
The dump holds what the session committed (the seed), never a test's rolled-back rows: the seed has no
telemetry, so the test commits three days of readings (three chunks) and removes them afterwards."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from linli.platform.backup import BackupError, backup, restore
from linli.platform.db import SCOPE_KEY_CONTEXT, scopes_literal
from linli.platform.security import derive_key
from linli.platform.settings import get_settings
from tests.conftest import PG, ROOT

COUNTED = ("telemetry", "audit_log", "devices", "people", "nodes", "linli_scope_key")
# The restoring side's LINLI_SECRET_KEY: restore ends with `linli migrate`, which stores its scope key.
TARGET_SECRET = "another-secret-key-for-the-restored-copy-0123456789"


def superuser(database: str) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://postgres@{PG}/{database}", autocommit=True)


def linli(*args: str, database: str, secret: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINLI_MIGRATE_DATABASE_URL": f"postgresql+psycopg://postgres@{PG}/{database}"}
    if secret:
        env["LINLI_SECRET_KEY"] = secret
    return subprocess.run([sys.executable, "-m", "linli.cli", *args], env=env, capture_output=True, text=True)


def counts(database: str) -> dict[str, int]:
    with superuser(database) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in COUNTED}


def people_seen_by_api(database: str, path: str, secret: str) -> int:
    """What the API role reads through RLS with a scope signed under `secret` (a wrong key reads nothing)."""
    value = scopes_literal([path])
    signature = hmac.new(derive_key(secret, SCOPE_KEY_CONTEXT), f"linli_api|{value}".encode(), hashlib.sha256)
    with psycopg.connect(f"postgresql://linli_api:linli_api@{PG}/{database}") as conn:
        conn.execute(
            "select set_config('linli.scopes', %s, true), set_config('linli.scopes_sig', %s, true)",
            [value, signature.hexdigest()],
        )
        return conn.execute("select count(*) from people").fetchone()[0]


@pytest.fixture
def committed_telemetry(migrated_database: str) -> Iterator[None]:
    with superuser(migrated_database) as conn:
        added = conn.execute(
            """insert into telemetry (ts, tenant_id, device_id, metric_id, value)
               select now() - make_interval(hours => h), d.tenant_id, d.id, m.id, h
               from (select id, tenant_id from devices order by id limit 2) d,
                    (select id from device_metrics order by id limit 1) m, generate_series(0, 71) h
               returning ts, device_id, metric_id"""
        ).fetchall()
    yield
    with superuser(migrated_database) as conn:
        conn.cursor().executemany("delete from telemetry where ts = %s and device_id = %s and metric_id = %s", added)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"linli_restore_{uuid.uuid4().hex[:12]}"
    yield name
    with superuser("postgres") as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def test_backup_restores_into_a_fresh_database_whose_audit_chains_verify(
    migrated_database: str, committed_telemetry: None, fresh_database: str, tmp_path: Path
) -> None:
    dump = tmp_path / "linli.dump"
    done = linli("backup", str(dump), database=migrated_database)
    assert done.returncode == 0, done.stderr
    restored = linli(
        "restore", str(dump), "--database", fresh_database, database=migrated_database, secret=TARGET_SECRET
    )
    assert restored.returncode == 0, restored.stderr

    source = counts(migrated_database)
    assert source["telemetry"] >= 144 and source["audit_log"] > 0
    assert counts(fresh_database) == source
    with superuser(fresh_database) as conn:
        assert conn.execute("select count(*) from timescaledb_information.hypertables").fetchone() == (1,)
        district = conn.execute("select node_path::text from nodes where level = 'district' limit 1").fetchone()[0]
    seen = people_seen_by_api(migrated_database, district, get_settings().secret_key)
    assert seen > 0 and people_seen_by_api(fresh_database, district, TARGET_SECRET) == seen
    assert people_seen_by_api(fresh_database, district, get_settings().secret_key) == 0

    verified = linli("audit", "verify", database=fresh_database)
    assert verified.returncode == 0, verified.stderr
    assert f"{source['audit_log']} rows, every chain intact" in verified.stderr

    with superuser(fresh_database) as conn:
        conn.execute("set session_replication_role = replica")  # past any append-only trigger
        conn.execute("update audit_log set action = action || '!' where id = (select min(id) from audit_log)")
    tampered = linli("audit", "verify", database=fresh_database)
    assert tampered.returncode == 1
    assert "audit log verification failed" in tampered.stderr


def test_restore_refuses_a_target_cluster_without_the_dumps_roles(fresh_database: str, tmp_path: Path) -> None:
    role, source = f"linli_gone_{uuid.uuid4().hex[:8]}", f"{fresh_database}_src"
    with superuser("postgres") as conn:
        conn.execute(f"create role {role} nologin")
        conn.execute(f'create database "{source}"')
    try:
        with superuser(source) as conn:
            conn.execute("create extension timescaledb")
            conn.execute(f"create table kept (id int); alter table kept owner to {role}")
        dump = backup(url=f"postgresql+psycopg://postgres@{PG}/{source}", target=tmp_path, progress=print)
    finally:
        with superuser("postgres") as conn:
            conn.execute(f'drop database if exists "{source}" with (force)')
            conn.execute(f"drop role {role}")

    with pytest.raises(BackupError, match=f"roles missing on the target cluster: {role} "):
        restore(url=f"postgresql+psycopg://postgres@{PG}/postgres", dump=dump, database=fresh_database, progress=print)
    with superuser("postgres") as conn:
        assert conn.execute("select 1 from pg_database where datname = %s", [fresh_database]).fetchone() is None


def test_backup_into_a_directory_keeps_the_newest_dumps(migrated_database: str, tmp_path: Path) -> None:
    older = [tmp_path / f"linli-{migrated_database}-2020010{day}T000000Z.dump" for day in (1, 2)]
    other = tmp_path / "linli-another-20200101T000000Z.dump"
    for path in (*older, other):
        path.write_bytes(b"")
    url = f"postgresql+psycopg://postgres@{PG}/{migrated_database}"
    written = backup(url=url, target=tmp_path, keep=2, progress=print)
    assert sorted(tmp_path.iterdir()) == sorted([older[1], written, other])
    assert written.stat().st_size > 0


def test_the_chart_backup_cronjob_is_off_by_default_and_loads_only_the_migrate_secret() -> None:
    values = yaml.safe_load((ROOT / "helm/linli/values.yaml").read_text())
    assert values["backup"]["enabled"] is False
    template = (ROOT / "helm/linli/templates/backup-cronjob.yaml").read_text()
    assert template.startswith("{{- if .Values.backup.enabled }}")
    assert '{{- if not .Values.existingSecret }}\n{{- fail "backup.enabled needs existingSecret' in template
    assert 'secretRef:\n                    name: {{ printf "%s-migrate" .Values.existingSecret }}' in template
    assert template.count("secretRef:") == 1
    assert 'args: ["backup", "/backups", "--keep", {{ .Values.backup.keep | quote }}]' in template
