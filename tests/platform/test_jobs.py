"""arq jobs travel as JSON, on the enqueueing side and in the worker: never pickle."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from arq.jobs import SerializationError
from arq.worker import Worker, get_kwargs

from linli.platform.jobs import WorkerSettings, pool

QUEUE = "linli-test-json-jobs"
ran: list[tuple[Any, ...]] = []


async def echo(ctx: dict[str, Any], number: int, text: str, ids: list[int]) -> dict[str, Any]:
    ran.append((number, text, ids))
    return {"number": number, "text": text}


async def fail(ctx: dict[str, Any]) -> None:
    raise RuntimeError("boom")


async def test_jobs_are_stored_as_json_and_the_worker_runs_them() -> None:
    redis = await pool()
    job = await redis.enqueue_job("echo", 7, "木棉岭", [1, 2], _queue_name=QUEUE)
    failing = await redis.enqueue_job("fail", _queue_name=QUEUE)
    assert job is not None and failing is not None
    stored = json.loads(await redis.get(f"arq:job:{job.job_id}"))  # not a pickle
    assert stored["f"] == "echo" and stored["a"] == [7, "木棉岭", [1, 2]]
    # The worker as `linli worker` configures it, with this test's functions on its own queue.
    settings = get_kwargs(WorkerSettings) | {"functions": [echo, fail], "cron_jobs": [], "queue_name": QUEUE}
    worker = Worker(**settings, burst=True, poll_delay=0.01)
    try:
        await worker.main()
    finally:
        await worker.close()
    assert ran == [(7, "木棉岭", [1, 2])]
    result = json.loads(await redis.get(f"arq:result:{job.job_id}"))
    assert result["s"] is True and result["r"] == {"number": 7, "text": "木棉岭"}
    failed = json.loads(await redis.get(f"arq:result:{failing.job_id}"))
    assert failed["s"] is False and "boom" in failed["r"]
    for key in (f"arq:result:{job.job_id}", f"arq:result:{failing.job_id}"):
        await redis.delete(key)


@pytest.mark.parametrize("argument", [datetime.now(UTC), uuid.uuid4(), {1, 2}])
async def test_an_argument_that_is_not_json_is_refused_when_enqueued(argument: object) -> None:
    with pytest.raises(SerializationError):
        await (await pool()).enqueue_job("echo", argument, _queue_name=QUEUE)
