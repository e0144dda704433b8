"""`linli residents import FILE`: bring a community's ledger (台账) in from a workbook or CSV file.

Exit codes: 0 every row stored (or, with --dry-run, every row good); 3 some rows refused (the good ones
stored unless --dry-run; each bad one listed, all of them in --errors FILE); 2 the file or the node is
unusable (nothing stored)."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

residents_app = typer.Typer(help="The residents registry.", no_args_is_help=True)
console = Console(stderr=True)
ERRORS_PRINTED = 20


@residents_app.command("import")
def import_ledger(
    file: Annotated[Path, typer.Argument(help="the ledger: .xlsx (first sheet) or .csv, a header row first")],
    node: Annotated[int, typer.Option(help="the estate's node id, or a community's (rows name the 小区)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check every row, store nothing")] = False,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="header=field for a header not recognised, e.g. 户主=name")
    ] = None,
    errors: Annotated[Path | None, typer.Option(help="write every refused row to this CSV file")] = None,
) -> None:
    """Import people, households and care categories; the same ledger twice stores it once."""
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session
    from linli.platform.errors import LinliError
    from linli.residents import ledger

    try:
        table = ledger.read_file(file)
        columns = ledger.parse_mapping(mapping or [])
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}", 2) from None
    except LinliError as exc:
        raise _fail(exc.message, 2) from None

    async def main(progress: Progress) -> ledger.LedgerReport:
        task = progress.add_task("checking rows", total=max(len(table) - 1, 0))

        async def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            async with scoped_session(SYSTEM_SCOPE) as session:
                report = await ledger.import_ledger(
                    session,
                    actor=None,
                    node_id=node,
                    table=table,
                    mapping=columns,
                    dry_run=dry_run,
                    progress=advance,
                )
                progress.update(task, completed=report.rows, description="storing" if not dry_run else "checked")
                return report
        finally:
            await dispose_engines()

    columns_shown = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns_shown, console=console, transient=True) as progress:
            report = asyncio.run(main(progress))
    except LinliError as exc:
        raise _fail(exc.message, 2) from None
    if errors is not None:
        with errors.open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow(("row", "column", "code", "message"))
            writer.writerows((e.row, e.column, e.code, e.message) for e in report.errors)
    for e in report.errors[:ERRORS_PRINTED]:
        console.print(f"row {e.row}, {e.column}: {e.message} ({e.code})", soft_wrap=True, markup=False)
    if report.error_count > ERRORS_PRINTED:
        console.print(f"… and {report.error_count - ERRORS_PRINTED} more refused rows")
    summary = f"{report.rows} rows, {report.valid} good, {report.error_count} refused"
    if report.stored:
        summary += (
            f"; households created {report.households_created}, people created {report.people_created}, "
            f"updated {report.people_updated}, unchanged {report.people_unchanged}"
        )
    elif dry_run:
        summary += "; dry run: nothing stored"
    typer.echo(summary)
    if report.error_count:
        raise typer.Exit(3)


def _fail(message: str, code: int) -> typer.Exit:
    console.print(f"linli: {message}", style="red", soft_wrap=True, markup=False)
    return typer.Exit(code)
