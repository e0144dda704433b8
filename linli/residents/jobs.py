"""The registry's worker jobs: importing an uploaded ledger."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from linli.platform.db import SYSTEM_SCOPE, scoped_session
from linli.residents import ledger


async def residents_import_ledger(ctx: dict[str, Any] | None, import_id: str) -> str | None:
    """Idempotent: an import that has already run is left as it is."""
    async with scoped_session(SYSTEM_SCOPE) as session:
        job = await ledger.run_import(session, import_id=uuid.UUID(import_id))
        return job.status if job is not None else None


JOBS: list[Callable[..., Awaitable[Any]]] = [residents_import_ledger]
