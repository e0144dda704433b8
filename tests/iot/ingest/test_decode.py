"""Decoding and validating a batch without a database: rows, rule candidates and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from linli.iot.catalog import TypeSpec, type_from_spec
from linli.iot.ingest.decode import Message, Refusal, Target, Unchecked, accepts_of, decode, parse
from linli.iot.ingest.rules_eval import RuleSet
from linli.iot.service import DeviceContext

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
METRIC_IDS = {"co_ppm": 3, "door_open": 9}
SENSOR = type_from_spec(
    {
        "code": "co_sensor",
        "metrics": [{"code": "co_ppm", "range": [0, 1000]}, {"code": "door_open", "kind": "flag"}],
        "rules": [{"code": "co_high", "kind": "threshold", "metric": "co_ppm", "above": 50, "severity": "high"}],
    }
)
HUB = type_from_spec({"code": "hub", "gateway": True, "metrics": [{"code": "co_ppm"}]})
TYPES = {"co_sensor": SENSOR, "hub": HUB}


def device(n: int, type_code: str = "co_sensor", *, tenant: int = 1, gateway: bool = False) -> DeviceContext:
    return DeviceContext(n, tenant, f"t{tenant}", 10, "d.s.c", type_code, f"S{n}", {}, gateway)


DEVICES = {
    ("t1", "S1"): device(1),
    ("t1", "S2"): device(2),
    ("t1", "G"): device(3, gateway=True),
    ("t1", "H"): device(4, "hub"),
    ("t2", "X"): device(5, tenant=2),
}


def lookup(slug: str, serial: str) -> tuple[DeviceContext | None, bool]:
    return DEVICES.get((slug, serial)), False


def spec_for(d: DeviceContext) -> TypeSpec | None:
    return TYPES.get(d.type_code)


def target_for(d: DeviceContext) -> Target:
    spec = spec_for(d)
    assert spec is not None
    return Target(d, accepts_of(spec, METRIC_IDS), RuleSet(spec.rules))


def mqtt(serial: str, body: Any, slug: str = "t1") -> Message:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return Message(source="mqtt", payload=raw, slug=slug, serial=serial, received_at=NOW)


def run(*messages: Message, inactive: dict[int, str] | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    parsed = parse(messages, lambda m: lookup(m.slug or "", m.serial or "")[0])
    decoded = decode(
        parsed.bodies,
        lookup=lookup,
        target_for=target_for,
        spec_for=spec_for,
        metric_ids=METRIC_IDS,
        first_seen={},
        inactive=inactive or {},
    )
    refused = [*parsed.refused, *decoded.refused]
    reasons = [r.reason if isinstance(r, Refusal) else ("unchecked", r.metric) for r in refused]
    candidates = {d: t.candidates for d, t in decoded.targets.items() if t.candidates}
    return decoded.rows, reasons, [candidates]


def test_readings_become_rows_and_the_rules_see_only_their_metrics() -> None:
    ts = (NOW - timedelta(minutes=1)).isoformat()
    rows, reasons, [candidates] = run(
        mqtt("S1", {"ts": ts, "metrics": {"co_ppm": 12, "door_open": True}}), mqtt("S2", {"metrics": {"co_ppm": 0.5}})
    )
    at = NOW - timedelta(minutes=1)
    assert rows == [(at, 1, 1, 3, 12.0), (at, 1, 1, 9, 1.0), (NOW, 1, 2, 3, 0.5)]
    assert reasons == []
    assert candidates == {1: [(at, "co_ppm", 12.0)], 2: [(NOW, "co_ppm", 0.5)]}


def test_each_refused_reading_says_why_and_the_rest_is_kept() -> None:
    rows, reasons, _ = run(
        mqtt("S1", b"{not json"),
        mqtt("S1", {"something": 1}),
        mqtt("S1", {"metrics": {"co_ppm": 5000, "door_open": 0.5, "co_ppm_x": 1, "co_ppm ": "high"}}),
        mqtt("S1", {"metrics": {"door_open": False, "co_ppm": "high"}}),
        mqtt("S1", {"ts": "2026-11-21T08:00:00", "metrics": {"co_ppm": 1}}),
        mqtt("S1", {"ts": (NOW + timedelta(hours=1)).isoformat(), "metrics": {"co_ppm": 1}}),
        mqtt("NOPE", {"metrics": {"co_ppm": 1}}),
        mqtt("S2", {"metrics": {"co_ppm": 7}}),
    )
    assert rows == [(NOW, 1, 1, 9, 0.0), (NOW, 1, 2, 3, 7.0)]
    assert reasons == [
        "malformed_json",
        "malformed_payload",
        "out_of_range",
        "out_of_range",
        ("unchecked", "co_ppm_x"),  # maybe a type changed since the writer loaded them: it looks again
        ("unchecked", "co_ppm "),
        "bad_value",
        "bad_timestamp",
        "future_timestamp",
        "unknown_device",
    ]


def test_only_gateways_publish_for_other_devices_and_only_of_their_tenant() -> None:
    def batch(*serials: str) -> dict[str, Any]:
        return {"readings": [{"serial": s, "metrics": {"co_ppm": 1}} for s in serials]}

    rows, reasons, _ = run(mqtt("S1", batch("S1", "S2")), mqtt("G", batch("S1", "X")), mqtt("H", batch("S2")))
    assert [(r[2], r[3]) for r in rows] == [(1, 3), (1, 3), (2, 3)]
    assert reasons == ["not_a_gateway", "unknown_device"]


def test_a_suspended_tenants_messages_are_refused_whole() -> None:
    own, other = mqtt("S1", {"metrics": {"co_ppm": 1}}), mqtt("X", {"metrics": {"co_ppm": 1}}, slug="t2")
    rows, reasons, _ = run(own, other, inactive={1: "suspended"})
    assert reasons == ["tenant_suspended"]
    assert [r[2] for r in rows] == [5]


def test_an_unknown_metric_is_left_for_a_second_look() -> None:
    parsed = parse([mqtt("S1", {"metrics": {"co2_ppm": 400}})], lambda m: None)
    decoded = decode(
        parsed.bodies,
        lookup=lookup,
        target_for=target_for,
        spec_for=spec_for,
        metric_ids=METRIC_IDS,
        first_seen={},
        inactive={},
    )
    [item] = decoded.refused
    assert isinstance(item, Unchecked) and (item.metric, item.raw, item.target.device.id) == ("co2_ppm", 400, 1)
