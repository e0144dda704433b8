"""Every Prometheus series Linli exports, defined in one place so that the chart's alert rules and
dashboard can be checked against them (tests/platform/test_metrics.py).

The API serves them at `/metrics` (behind LINLI_METRICS_TOKEN). The arq worker and the ingest workers
are processes of their own: each serves its registry on LINLI_METRICS_PORT when that is set
(`serve_metrics`), and Prometheus scrapes every pod. Nothing here is per reading: ingest counts once
per batch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from linli.platform.settings import get_settings

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ API
HTTP_LATENCY = Histogram(
    "linli_http_request_duration_seconds",
    "HTTP request latency (and, as _count, requests) by route template, never the raw path",
    ["method", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_ERRORS = Counter("linli_http_errors_total", "Error answers by error code", ["code"])

# ------------------------------------------------------------------ ingest (MQTT and HTTP)
INGEST_MESSAGES = Counter("linli_ingest_messages_total", "Messages written in a batch", ["source"])
INGEST_READINGS_STORED = Counter("linli_ingest_readings_stored_total", "Readings stored in the hypertable")
INGEST_DEAD_LETTERS = Counter("linli_ingest_dead_letters_total", "Refused readings or messages", ["reason"])
INGEST_BATCH_SECONDS = Histogram(
    "linli_ingest_batch_duration_seconds",
    "Time to write and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INGEST_LAG_SECONDS = Gauge(
    "linli_ingest_lag_seconds", "Commit time minus the arrival of the oldest message of the last batch"
)
INGEST_LAST_BATCH = Gauge("linli_ingest_last_batch_timestamp_seconds", "When the last batch committed")

# ------------------------------------------------------------------ dispatch
EVENTS_CREATED = Counter("linli_events_created_total", "Events created (not merged duplicates)", ["source"])
DEADLINES_MISSED = Counter("linli_deadlines_missed_total", "Accept/resolve deadlines found missed", ["kind"])
ESCALATIONS = Counter("linli_event_escalations_total", "Events escalated one level up the tree")

# ------------------------------------------------------------------ jobs
JOBS = Counter("linli_jobs_total", "Background jobs finished", ["function", "outcome"])
JOB_QUEUE_DEPTH = Gauge(
    "linli_job_queue_depth", "Jobs in the arq queue, due or deferred (read by the API when scraped)", ["state"]
)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def counted_job(function: F) -> F:
    """A job that counts its outcome; arq names it by the wrapped function's name."""

    @functools.wraps(function)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await function(*args, **kwargs)
        except BaseException:
            JOBS.labels(function.__name__, "failed").inc()
            raise
        JOBS.labels(function.__name__, "ok").inc()
        return result

    return run  # type: ignore[return-value]


def serve_metrics(process: str) -> None:
    """For processes without the API's `/metrics` route (worker, ingest): serve the registry on
    LINLI_METRICS_PORT. Unset (the default in development), nothing is served. The port has no
    authentication: expose it to the cluster's Prometheus only (the chart's Services are internal)."""
    port = get_settings().metrics_port
    if port is None:
        return
    start_http_server(port)
    log.info("%s metrics on port %d", process, port)
