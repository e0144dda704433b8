"""The stream rules on a batch without a database: what opens, clears and is kept, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from linli.iot.catalog import rule_from_spec
from linli.iot.ingest.rules_eval import ClearAlarm, OpenAlarm, RuleSet, RuleState, evaluate, interesting
from linli.iot.service import DeviceContext

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
CO_HIGH = rule_from_spec(
    {"code": "co_high", "kind": "threshold", "metric": "co_ppm", "above": 50, "clear_below": 30, "hold_s": 60}
)
USAGE = rule_from_spec({"code": "usage_fast", "kind": "rate", "metric": "kwh", "above_per_hour": 10})
DEVICE = DeviceContext(1, 1, "t1", 10, "d.s.c", "co_sensor", "S1", {})
METER = DeviceContext(2, 1, "t1", 10, "d.s.c", "energy_meter", "M1", {})
RULES = {"co_sensor": RuleSet((CO_HIGH,)), "energy_meter": RuleSet((USAGE,))}


def rules_for(device: DeviceContext) -> RuleSet:
    return RULES[device.type_code]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_only_devices_with_state_or_an_abnormal_reading_are_evaluated() -> None:
    candidates = {1: [(at(0), "co_ppm", 10.0)], 2: [(at(0), "kwh", 1.0)], 3: [(at(0), "co_ppm", 60.0)]}
    contexts = {1: DEVICE, 2: METER, 3: DeviceContext(3, 1, "t1", 10, "d.s.c", "co_sensor", "S3", {})}
    assert interesting(candidates, contexts, rules_for, {}) == [2, 3]  # a rate rule keeps state from any reading
    kept = {(1, "co_high"): RuleState("pending", at(-30), at(-30), 55.0, None)}
    assert interesting(candidates, contexts, rules_for, kept) == [1, 2, 3]


def test_a_threshold_held_long_enough_opens_and_a_clear_level_clears_the_same_alarm() -> None:
    readings = [(at(0), "co_ppm", 60.0), (at(30), "co_ppm", 75.0), (at(61), "co_ppm", 80.0), (at(90), "co_ppm", 40.0)]
    states: dict[tuple[int, str], RuleState] = {}
    first = evaluate([1], {1: readings}, {1: DEVICE}, rules_for, states)
    [opening] = first.effects
    assert isinstance(opening, OpenAlarm) and (opening.value, opening.ts) == (80.0, at(61))
    assert opening.details == {"since": at(0).isoformat(), "metric": "co_ppm"}
    state = first.upserts[(1, "co_high")]
    assert (state.phase, state.alarm, state.last_value) == ("alarm", opening, 40.0)  # 40: above the clear level

    opening.alarm_id = 77  # what the writer does once it opened the alarm
    second = evaluate([1], {1: [(at(120), "co_ppm", 20.0), (at(100), "co_ppm", 45.0)]}, {1: DEVICE}, rules_for, states)
    [clearing] = second.effects
    assert isinstance(clearing, ClearAlarm) and clearing.alarm_id() == 77 and clearing.ts == at(120)
    assert second.deletes == {(1, "co_high")} and second.upserts == {}


def test_an_alarm_opened_and_cleared_in_one_batch_clears_what_it_opened() -> None:
    readings = [(at(0), "co_ppm", 90.0), (at(60), "co_ppm", 90.0), (at(70), "co_ppm", 10.0)]
    out = evaluate([1], {1: readings}, {1: DEVICE}, rules_for, {})
    opening, clearing = out.effects
    assert isinstance(opening, OpenAlarm) and isinstance(clearing, ClearAlarm) and clearing.alarm is opening
    assert out.deletes == {(1, "co_high")}


def test_a_short_excursion_opens_nothing_and_keeps_no_state() -> None:
    out = evaluate([1], {1: [(at(0), "co_ppm", 90.0), (at(30), "co_ppm", 20.0)]}, {1: DEVICE}, rules_for, {})
    assert out.effects == [] and out.upserts == {} and out.deletes == {(1, "co_high")}


def test_a_rate_rule_opens_on_a_fast_increase_and_clears_when_it_slows() -> None:
    readings = [(at(0), "kwh", 100.0), (at(1800), "kwh", 110.0), (at(3600), "kwh", 111.0)]
    out = evaluate([2], {2: readings}, {2: METER}, rules_for, {})
    opening, clearing = out.effects
    assert isinstance(opening, OpenAlarm) and opening.value == 20.0  # kWh per hour
    assert isinstance(clearing, ClearAlarm) and clearing.value == 2.0
    state = out.upserts[(2, "usage_fast")]
    assert (state.phase, state.alarm, state.last_value) == ("pending", None, 111.0)
