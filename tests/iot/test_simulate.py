"""The simulator's readings: valid for their type and quiet in normal operation, alarming under a fault,
for the catalog's types and for a tenant's own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linli.iot.catalog import TypeSpec, type_from_spec
from linli.iot.simulate import FAULTS, SimDevice, reading
from linli.platform.catalogs import load

CATALOG = {t["code"]: type_from_spec(t) for t in load("device_catalog")["types"]}
TENANT_TYPE = type_from_spec(
    {
        "code": "gas_detector_4in1",
        "interval_s": 30,
        "metrics": [
            {"code": "o2_pct", "kind": "gauge", "range": [0, 30]},
            {"code": "runtime_h", "kind": "counter"},
        ],
        "rules": [{"code": "oxygen_low", "kind": "threshold", "metric": "o2_pct", "below": 19.5, "clear_above": 20}],
    }
)
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def device(spec: TypeSpec) -> SimDevice:
    return SimDevice(1, "t", "S1", spec.code, spec.metrics, spec.rules)


def alarming(spec: TypeSpec, values: dict[str, float]) -> list[str]:
    return [
        r.code
        for r in spec.rules
        if r.kind in ("threshold", "state") and r.metric in values and r.abnormal(values[r.metric])
    ]


@pytest.mark.parametrize("spec", [*CATALOG.values(), TENANT_TYPE], ids=lambda s: s.code)
def test_normal_readings_are_valid_and_raise_no_alarm(spec: TypeSpec) -> None:
    sim = device(spec)
    for step in range(50):
        values = reading(sim, NOON, clock=1000.0 + step)
        assert set(values) <= set(spec.metrics), spec.code
        problems = [p for code, v in values.items() if (p := spec.metrics[code].check(float(v)))]
        assert problems == []
        assert alarming(spec, values) == []


@pytest.mark.parametrize("code", FAULTS)
def test_an_injected_fault_trips_the_types_alarm(code: str) -> None:
    spec = CATALOG[code]
    sim = device(spec)
    sim.fault_until = 10_000.0
    values = reading(sim, NOON, clock=1000.0)
    assert alarming(spec, values), (code, values)
    assert all(spec.metrics[c].check(float(v)) is None for c, v in values.items())
