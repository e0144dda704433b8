"""The `linli` command."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from linli.events.cli import events_app
from linli.platform.settings import get_settings
from linli.residents.cli import residents_app

app = typer.Typer(
    help="Linli (邻里): smart-community governance platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
seed_app = typer.Typer(help="Load data.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
grafana_app = typer.Typer(help="Grafana dashboards.", no_args_is_help=True)
health_app = typer.Typer(help="Is this pod's worker alive and ready? (the chart's exec probes)", no_args_is_help=True)
dev_app = typer.Typer(help="Development helpers.", no_args_is_help=True)
app.add_typer(seed_app, name="seed")
app.add_typer(audit_app, name="audit")
app.add_typer(tenants_app, name="tenants")
app.add_typer(grafana_app, name="grafana")
app.add_typer(events_app, name="events")
app.add_typer(residents_app, name="residents")
app.add_typer(health_app, name="health")
app.add_typer(dev_app, name="dev")
console = Console(stderr=True)
ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
# What `linli up` (and so `make demo`) runs side by side.
FOREGROUND_PROCESSES = ("serve", "worker", "ingest")


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]linli: {message}[/red]", soft_wrap=True)
    return typer.Exit(code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn an unreachable service into one line instead of a stack trace."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from linli.platform.db import dispose_engines

    async def main() -> T:
        try:
            return await coro
        finally:
            await dispose_engines()

    try:
        return asyncio.run(main())
    except OperationalError as exc:
        first_line = str(exc.orig).splitlines()[0]
        raise fail(f"database unavailable ({first_line}); start it with `scripts/services up`") from None
    except DBAPIError as exc:
        raise fail(f"database error: {str(exc.orig).splitlines()[0]}") from None
    except (ConnectionError, OSError) as exc:
        raise fail(f"service unavailable: {exc}; start the services with `scripts/services up`") from None


@app.callback()
def main(ctx: typer.Context) -> None:
    """Every command runs with the domains wired (`linli.wiring`), so that cross-domain hooks (alarm →
    event in `linli ingest`, onboarding defaults) run in every process; but a health probe, which runs
    every few seconds, imports only what it checks."""
    from pydantic import ValidationError

    try:
        get_settings()
    except ValidationError as exc:  # e.g. production with a development secret: one line naming it
        raise fail(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    if ctx.invoked_subcommand == "health":
        return
    from linli import wiring

    wiring.wire()


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Apply the database migrations (alembic)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.exc import OperationalError

    config = Config(str(ROOT / "alembic.ini"))
    try:
        command.upgrade(config, revision)
    except OperationalError as exc:
        first_line = str(exc.orig).splitlines()[0]
        raise fail(f"database unavailable ({first_line}); start it with `scripts/services up`") from None
    console.print(f"migrated to {revision}")


@app.command()
def openapi(out: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None) -> None:
    """Print the API's OpenAPI document (the web front end's client is generated from it: `make client`)."""
    import json

    from linli.platform.app import create_app

    document = json.dumps(create_app().openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(document)
    else:
        out.write_text(document, encoding="utf-8")


@seed_app.command("demo")
def seed_demo(
    scale: Annotated[str, typer.Option(help="small (seconds) or full (real volumes)")] = "small",
) -> None:
    """Load the demo district: tree, catalogs, tenants, accounts and domain demo data."""
    if scale not in ("small", "full"):
        raise fail("--scale must be small or full", 2) from None
    from linli.demo import seed_demo as do_seed

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("seeding", total=None)
        run(do_seed(scale=scale, progress=lambda step: bar.update(task, description=f"seeding {step}")))
    console.print(f"demo district seeded ({scale})")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute every audit hash chain; exit 1 if any row was altered, removed or reordered."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from linli.platform import audit
    from linli.platform.db import admin_connection

    async def main() -> audit.Verification:
        # Verification reads every tenant's chain: it runs as the administrative role.
        async with admin_connection() as conn, AsyncSession(bind=conn) as session:
            return await audit.verify(session)

    result = run(main())
    count, problems = result.rows, result.problems
    for p in problems:
        console.print(f"[red]chain {p.chain} seq {p.seq}: {p.problem}[/red]")
    if problems:
        raise fail(f"audit log verification failed: {len(problems)} problem(s) in {count} rows") from None
    console.print(f"audit log verified: {count} rows, every chain intact")


@app.command()
def backup(
    target: Annotated[Path, typer.Argument(help="file to write, or a directory for a timestamped file")],
    keep: Annotated[int | None, typer.Option(help="in a directory: keep only this many newest dumps")] = None,
) -> None:
    """Dump the whole database (hypertables included, custom format) with pg_dump, as the migration URL."""
    from linli.platform.backup import BackupError
    from linli.platform.backup import backup as do_backup

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("connecting", total=None)
        try:
            written = do_backup(
                url=get_settings().migrate_database_url,
                target=target,
                keep=keep,
                progress=lambda step: bar.update(task, description=step),
            )
        except BackupError as exc:
            raise fail(f"backup failed: {exc}") from None
    console.print(f"backup written to {written} ({written.stat().st_size} bytes)")


@app.command()
def restore(
    dump: Annotated[Path, typer.Argument(help="a file written by `linli backup`")],
    database: Annotated[
        str | None, typer.Option(help="target database (default: the migration URL's); absent or empty")
    ] = None,
) -> None:
    """Restore a backup into a new or empty database (TimescaleDB's pre/post-restore procedure), then
    migrate it to this release (which also stores the scope key derived from LINLI_SECRET_KEY)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.engine import make_url

    from linli.platform.backup import BackupError
    from linli.platform.backup import restore as do_restore

    url = get_settings().migrate_database_url
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("connecting", total=None)
        try:
            name = do_restore(
                url=url, dump=dump, database=database, progress=lambda step: bar.update(task, description=step)
            )
        except BackupError as exc:
            raise fail(f"restore failed: {exc}") from None
        bar.update(task, description="migrating")
        config = Config(str(ROOT / "alembic.ini"))
        config.attributes["url"] = make_url(url).set(database=name).render_as_string(hide_password=False)
        try:
            command.upgrade(config, "head")
        except Exception as exc:  # the data is in; say what is left to do instead of a stack trace
            raise fail(f"restored into {name}, but `linli migrate` failed there: {str(exc).splitlines()[0]}") from None
    console.print(f"restored {dump} into database {name}; check it with `linli audit verify`")


@grafana_app.command("sync")
def grafana_sync(tenant: Annotated[str | None, typer.Option(help="one tenant's slug (default: all)")] = None) -> None:
    """Provision each tenant's read-only reporting role and views, and its Grafana org and dashboards."""
    from linli.dashboards.service import sync_grafana
    from linli.platform.errors import NotFound

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("provisioning", total=None)
        try:
            done = run(sync_grafana(slug=tenant, progress=lambda s: bar.update(task, description=f"grafana {s}")))
        except NotFound:
            raise fail(f"no active tenant {tenant!r}") from None
    where = "Grafana and database" if get_settings().grafana_url else "database only (LINLI_GRAFANA_URL is not set)"
    console.print(f"provisioned {len(done)} tenant(s): {', '.join(done)} — {where}")


@tenants_app.command("purge")
def tenants_purge() -> None:
    """Delete the data of offboarded tenants whose grace period has ended (also a nightly job)."""
    from linli.tenants.jobs import purge_offboarded_tenants

    purged = run(purge_offboarded_tenants())
    console.print(f"purged {len(purged)} tenant(s){': ' + ', '.join(purged) if purged else ''}")


READY = typer.Option("--ready", help="ready for work too (readiness), not only alive (liveness)")


def probe_result(problem: str | None) -> None:
    if problem is not None:
        raise fail(problem)
    console.print("ok")


@health_app.command("worker")
def health_worker(ready: Annotated[bool, READY] = False) -> None:
    """This host's arq worker recorded its health in Redis within the last interval (ready: and the
    database answers)."""
    from linli.platform.probes import worker_problem

    # Liveness needs no database: `run` would import the engines only to dispose of them.
    probe_result(run(worker_problem(ready=True)) if ready else asyncio.run(worker_problem(ready=False)))


@health_app.command("ingest")
def health_ingest(ready: Annotated[bool, READY] = False) -> None:
    """The MQTT ingest worker's heartbeat (LINLI_HEALTH_FILE) is fresh (ready: and it is subscribed and
    writing)."""
    from linli.platform.probes import heartbeat_problem

    probe_result(heartbeat_problem(get_settings().health_file, ready=ready))


@dev_app.command("sms-outbox")
def sms_outbox(
    phone: Annotated[str | None, typer.Option(help="only messages to this phone")] = None,
    limit: Annotated[int, typer.Option(help="how many of the newest messages")] = 20,
) -> None:
    """Print the SMS the development gateway wrote instead of sending them (sign-in codes among them)."""
    from linli.platform.sms import read_outbox

    if get_settings().sms_gateway_url:
        console.print("LINLI_SMS_GATEWAY_URL is set: messages go to that gateway, not to the outbox")
    for message in read_outbox(phone=phone, limit=limit):
        typer.echo(f"{message['at']}  {message['phone']}  {message['text']}")


@app.command()
def serve(host: str | None = None, port: int | None = None) -> None:
    """Run the API and portal (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "linli.platform.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,  # the app logs every request itself, with query values masked
        proxy_headers=False,
    )


@app.command()
def worker() -> None:
    """Run the arq worker (rollups, retention, deadlines, escalations, notifications)."""
    from arq.worker import run_worker

    from linli.platform.jobs import WorkerSettings

    run_worker(WorkerSettings)  # type: ignore[arg-type]


@app.command()
def ingest(
    group: Annotated[str, typer.Option(help="shared-subscription group")] = "linli-ingest",
    client_id: Annotated[str | None, typer.Option(help="stable MQTT client id (default: host + index)")] = None,
    session_expiry: Annotated[int, typer.Option(help="seconds the broker keeps the session after a crash")] = 3600,
) -> None:
    """Consume device telemetry and command acks from MQTT (shared subscription, ack after commit)."""
    from linli.iot.consumer import run_forever
    from linli.platform.logging import configure_logging

    configure_logging(get_settings().log_level)
    run(run_forever(group=group, client_id=client_id, session_expiry_s=session_expiry))


@app.command()
def simulate(
    community: Annotated[str, typer.Option(help="community name, e.g. 木棉岭社区")] = "木棉岭社区",
    rate: Annotated[float, typer.Option(help="messages per second in total")] = 50.0,
    duration: Annotated[float, typer.Option(help="seconds to run (0 = until Ctrl-C)")] = 0.0,
    fault_every: Annotated[float, typer.Option(help="seconds between injected faults")] = 60.0,
) -> None:
    """Publish realistic telemetry for the community's demo devices over MQTT, with injected faults."""
    from linli.iot.simulate import simulate as do_simulate

    run(do_simulate(community=community, rate=rate, duration=duration, fault_every=fault_every))


@app.command()
def up() -> None:
    """Run API, worker and MQTT ingest together in the foreground; one Ctrl-C stops all of them."""
    settings = get_settings()
    exe = [sys.executable, "-m", "linli.cli"]
    names = list(FOREGROUND_PROCESSES)
    procs = [subprocess.Popen([*exe, name], start_new_session=True) for name in names]
    console.print(f"Linli is running at {settings.public_url}  (Ctrl-C to stop)")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop:
            for name, proc in zip(names, procs, strict=True):
                if proc.poll() is not None:
                    console.print(f"[red]{name} exited with {proc.returncode}; stopping[/red]")
                    stop = True
            time.sleep(0.5)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    app()
