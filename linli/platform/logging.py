"""Structured JSON logs; every line inside a request carries its request id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from urllib.parse import parse_qsl

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


# Phones (11 digits), identity numbers (18), long numeric tokens: masked wherever a URL shows them.
_LONG_NUMBER = re.compile(r"\d{7,}[\dXx]?")


def masked_target(path: str, query: str) -> str:
    """The request target for logs: long numbers in the path masked, every query value masked (they
    carry search terms, phones, names and `api_key`s); the parameter names stay for debugging."""
    masked = _LONG_NUMBER.sub("***", path)
    if query:
        names = (_LONG_NUMBER.sub("***", name) for name, _ in parse_qsl(query, keep_blank_values=True))
        masked += "?" + "&".join(f"{name}=***" for name in names)
    return masked


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (rid := request_id_var.get()) is not None:
            entry["request_id"] = rid
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
