"""`linli events ...`: run the deadline sweep and pending deliveries by hand (the worker runs both
every minute)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import typer

events_app = typer.Typer(help="Events: deadlines and notifications.", no_args_is_help=True)


@events_app.command("sweep")
def sweep(
    now: Annotated[str | None, typer.Option(help="pretend it is this ISO time (with zone)")] = None,
) -> None:
    """Escalate every event whose deadline has passed."""
    from linli.events import deadlines
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session

    at = datetime.fromisoformat(now) if now else None
    if at is not None and at.tzinfo is None:
        raise typer.BadParameter("give a time zone, e.g. 2026-01-01T08:00:00+08:00")

    async def main() -> int:
        try:
            async with scoped_session(SYSTEM_SCOPE) as session:
                return await deadlines.sweep_deadlines(session, now=at)
        finally:
            await dispose_engines()

    typer.echo(f"escalated {asyncio.run(main())} event(s)")


@events_app.command("deliver")
def deliver() -> None:
    """Send due pending notifications (e-mail, SMS, webhooks)."""
    from linli.events import notifications
    from linli.platform.db import SYSTEM_SCOPE, dispose_engines, scoped_session

    async def main() -> tuple[int, int]:
        try:
            async with scoped_session(SYSTEM_SCOPE) as session:
                return await notifications.deliver_pending(session)
        finally:
            await dispose_engines()

    delivered, failed = asyncio.run(main())
    typer.echo(f"delivered {delivered}, failed {failed} (failures are retried)")
