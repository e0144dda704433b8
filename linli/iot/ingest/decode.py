"""A batch's payloads -> telemetry rows, rule candidates and refusals (pure: no database).

Two steps around the writer's lookups: `parse` reads the JSON and names the devices a batch mentions
(the writer then loads them); `decode` turns readings into rows. A metric the loaded types do not know
is `Unchecked`: the writer may reload the types and check it again before refusing it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from linli.iot.alarms import DeviceContext
from linli.iot.catalog import TypeSpec
from linli.iot.ingest.copyformat import Row
from linli.iot.ingest.rules_eval import Candidate, RuleSet

MAX_FUTURE = timedelta(minutes=10)
FLAG = (0.0, 1.0)
# A metric a device type accepts: its id, range and whether it is a flag (0/1).
Accepts = dict[str, tuple[int, float, float, bool]]
# A device by (tenant slug, serial): the device (None: unknown) and whether it was revoked.
Lookup = Callable[[str, str], tuple[DeviceContext | None, bool]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Message:
    """One MQTT message or HTTP request body. `device` is set when the sender is already authenticated
    (HTTP token); otherwise the device is the topic's (slug, serial)."""

    source: str
    payload: bytes
    topic: str | None = None
    slug: str | None = None
    serial: str | None = None
    device: DeviceContext | None = None
    received_at: datetime = field(default_factory=utcnow)
    tag: Any = None


class IngestError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Refusal:
    """A dead letter to be: `device` is the one it concerns (None: the message's, if known)."""

    msg: Message
    device: DeviceContext | None
    reason: str
    detail: str
    payload: bytes


@dataclass(slots=True)
class Unchecked:
    """A reading of a metric the loaded types do not know (maybe a type changed since they loaded)."""

    msg: Message
    target: Target
    ts: datetime
    raw_ts: Any
    metric: str
    raw: Any


@dataclass(slots=True)
class Target:
    """A device of the batch being written."""

    device: DeviceContext
    accepts: Accepts
    rules: RuleSet
    candidates: list[Candidate] = field(default_factory=list)
    last_ts: datetime | None = None

    def add(self, rows: list[Row], ts: datetime, metric: str, metric_id: int, value: float) -> None:
        """An accepted reading off the fast path (the fast path does the same inline)."""
        device = self.device
        rows.append((ts, device.tenant_id, device.id, metric_id, value))
        if self.rules.watch_all or metric in self.rules.watched:
            self.candidates.append((ts, metric, value))
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts


@dataclass
class Parsed:
    bodies: list[tuple[Message, dict[str, Any]]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    # Devices the gateway batches name, to be loaded before `decode`.
    keys: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class Decoded:
    rows: list[Row] = field(default_factory=list)
    # In the order met; the writer replaces each Unchecked by its outcome.
    refused: list[Refusal | Unchecked] = field(default_factory=list)
    targets: dict[int, Target] = field(default_factory=dict)


def parse_ts(raw: Any, default: datetime, parsed: dict[str, datetime]) -> datetime:
    """`parsed` remembers the strings of a batch (a gateway's readings share their timestamp)."""
    if raw is None:
        return default
    ts = parsed.get(raw) if isinstance(raw, str) else None
    if ts is None:
        if not isinstance(raw, str):
            raise IngestError("bad_timestamp", f"ts must be an ISO-8601 string, got {raw!r}")
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            raise IngestError("bad_timestamp", f"ts {raw!r} is not ISO-8601") from None
        if ts.tzinfo is None:
            raise IngestError("bad_timestamp", f"ts {raw!r} has no timezone")
        parsed[raw] = ts
    if ts - default > MAX_FUTURE:
        raise IngestError("future_timestamp", f"ts {raw!r} lies in the future")
    return ts


def to_value(raw: Any) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        return float(raw)
    raise IngestError("bad_value", f"value {raw!r} is not a number")


def accepts_of(spec: TypeSpec, metric_ids: dict[str, int]) -> Accepts:
    """What the fast path needs of a type: each metric's id, range and whether it is a flag."""
    return {
        m.code: (
            metric_ids[m.code],
            float("-inf") if m.low is None else m.low,
            float("inf") if m.high is None else m.high,
            m.kind == "flag",
        )
        for m in spec.metrics.values()
        if m.code in metric_ids
    }


def check_metric(
    spec: TypeSpec | None, metric_ids: dict[str, int], device: DeviceContext, metric: str, raw: Any
) -> tuple[int, float]:
    """A reading the fast path did not accept: its metric id and value, or IngestError with the reason."""
    mspec = spec.metrics.get(metric) if spec else None
    metric_id = metric_ids.get(metric)
    if mspec is None or metric_id is None:
        raise IngestError("unknown_metric", f"{device.type_code} devices do not report {metric!r}")
    value = to_value(raw)
    problem = mspec.check(value)
    if problem:
        raise IngestError("out_of_range", problem)
    return metric_id, value


def parse(messages: Sequence[Message], sender: Callable[[Message], DeviceContext | None]) -> Parsed:
    """JSON and shape of each message; the serials its batch names."""
    out = Parsed()
    for msg in messages:
        try:
            body = orjson.loads(msg.payload)
        except orjson.JSONDecodeError as exc:
            out.refused.append(Refusal(msg, sender(msg), "malformed_json", f"not JSON: {exc}", msg.payload))
            continue
        if not isinstance(body, dict) or not (
            isinstance(body.get("metrics"), dict) or isinstance(body.get("readings"), list)
        ):
            out.refused.append(
                Refusal(
                    msg, sender(msg), "malformed_payload", "expected {metrics: {...}} or {readings: [...]}", msg.payload
                )
            )
            continue
        slug = msg.device.tenant_slug if msg.device else msg.slug
        if isinstance(body.get("readings"), list) and slug:
            for reading in body["readings"]:
                if isinstance(reading, dict) and isinstance(reading.get("serial"), str):
                    out.keys.add((slug, reading["serial"]))
        out.bodies.append((msg, body))
    return out


def decode(
    bodies: Sequence[tuple[Message, dict[str, Any]]],
    *,
    lookup: Lookup,
    target_for: Callable[[DeviceContext], Target],
    spec_for: Callable[[DeviceContext], TypeSpec | None],
    metric_ids: dict[str, int],
    first_seen: dict[int, datetime],
    inactive: dict[int, str],
) -> Decoded:
    """Readings -> rows (ts, tenant, device, metric id, value) and refusals, in one pass."""
    out = Decoded()
    rows, refused, targets = out.rows, out.refused, out.targets
    parsed_ts: dict[str, datetime] = {}
    for msg, body in bodies:
        sender = msg.device
        if sender is None:
            sender, revoked = lookup(msg.slug or "", msg.serial or "")
            if sender is None or revoked:
                reason = "revoked_device" if revoked else "unknown_device"
                detail = f"no active device {msg.serial!r} in tenant {msg.slug!r}"
                refused.append(Refusal(msg, None, reason, detail, msg.payload))
                continue
        status = inactive.get(sender.tenant_id)
        if status is not None:
            detail = f"tenant {sender.tenant_slug!r} is {status}"
            refused.append(Refusal(msg, sender, f"tenant_{status}", detail, msg.payload))
            continue
        relays: bool | None = None  # may the sender publish for other devices? (asked only if it does)
        if "readings" in body and isinstance(body["readings"], list):
            readings = body["readings"]
        else:
            readings = [{"serial": None, "ts": body.get("ts"), "metrics": body.get("metrics")}]
        arrived = first_seen.get(id(msg), msg.received_at)
        for reading in readings:
            device = sender
            try:
                if not isinstance(reading, dict) or not isinstance(reading.get("metrics"), dict):
                    raise IngestError("malformed_payload", "a reading needs a metrics object")
                serial = reading.get("serial")
                if serial is not None and serial != sender.serial:
                    if not isinstance(serial, str):
                        raise IngestError("malformed_payload", "serial must be a string")
                    if relays is None:
                        spec = spec_for(sender)
                        relays = sender.gateway or (spec is not None and spec.gateway)
                    if not relays:
                        raise IngestError(
                            "not_a_gateway", f"{sender.serial!r} is no gateway: it publishes its own readings only"
                        )
                    found, revoked = lookup(sender.tenant_slug, serial)
                    if found is None or revoked:
                        raise IngestError(
                            "revoked_device" if revoked else "unknown_device",
                            f"no active device {serial!r} in tenant {sender.tenant_slug!r}",
                        )
                    device = found
                ts = parse_ts(reading.get("ts"), arrived, parsed_ts)
            except IngestError as exc:
                refused.append(Refusal(msg, sender, exc.reason, exc.detail, orjson.dumps(reading)))
                continue
            target = targets.get(device.id)
            if target is None:
                target = targets[device.id] = target_for(device)
            accepts, watched, watch_all = target.accepts, target.rules.watched, target.rules.watch_all
            for metric, raw in reading["metrics"].items():
                # The common case inline (this runs for every reading); anything unusual takes the
                # checked path, which also says why a reading is refused.
                accept = accepts.get(metric)
                if accept is not None:
                    kind = type(raw)
                    if kind is float or kind is int:
                        metric_id, low, high, flag = accept
                        value = float(raw)
                        if not (low <= value <= high and value - value == 0.0 and (not flag or value in FLAG)):
                            accept = None
                    else:  # true/false, strings: the checked path converts or refuses them
                        accept = None
                if accept is None:
                    try:
                        metric_id, value = check_metric(spec_for(device), metric_ids, device, metric, raw)
                    except IngestError as exc:
                        if exc.reason == "unknown_metric":
                            refused.append(Unchecked(msg, target, ts, reading.get("ts"), metric, raw))
                        else:
                            refused.append(
                                Refusal(
                                    msg,
                                    device,
                                    exc.reason,
                                    exc.detail,
                                    refused_reading(device, reading.get("ts"), metric, raw),
                                )
                            )
                        continue
                rows.append((ts, device.tenant_id, device.id, metric_id, value))
                if watch_all or metric in watched:
                    target.candidates.append((ts, metric, value))
                if target.last_ts is None or ts > target.last_ts:
                    target.last_ts = ts
    return out


def refused_reading(device: DeviceContext, raw_ts: Any, metric: str, raw: Any) -> bytes:
    """The dead letter's payload for one refused metric of a reading."""
    return orjson.dumps({"serial": device.serial, "ts": raw_ts, metric: raw})
