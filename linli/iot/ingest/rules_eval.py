"""The stream rules on a batch (pure: no database): which devices could change anything, and what their
readings change — rule states to write or delete, alarms to open and clear, in the order they happen.
The writer loads the states, runs the alarms' effects in that order and stores the states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linli.iot.alarms import DeviceContext
from linli.iot.catalog import RuleSpec

# A reading a rule must see: its timestamp, metric and value.
Candidate = tuple[datetime, str, float]
StateKey = tuple[int, str]  # device id, rule code


class RuleSet:
    """A device's effective rules, indexed for the stream: which readings they must see, and which
    readings could change something (only those devices take the rule-state lock)."""

    def __init__(self, rules: tuple[RuleSpec, ...]) -> None:
        self.rules = rules
        # Absence rules watch every reading (any reading ends a silence).
        self.watch_all = any(r.kind == "absence" for r in rules)
        self.watched = frozenset(r.metric for r in rules if r.kind != "absence")
        # Rate rules and activity counters keep state from every reading.
        self.stateful = any(r.kind == "rate" for r in rules)
        self.activity = frozenset(r.metric for r in rules if r.kind == "absence" and r.activity is not None)
        self.by_metric: dict[str | None, tuple[RuleSpec, ...]] = {}
        for r in rules:
            if r.kind in ("threshold", "state"):
                self.by_metric[r.metric] = (*self.by_metric.get(r.metric, ()), r)

    def may_act(self, readings: Sequence[Candidate]) -> bool:
        """Could these readings open, advance or clear anything (given no state kept yet)?"""
        if self.stateful:
            return True
        by_metric, activity = self.by_metric, self.activity
        return any(
            metric in activity or any(r.abnormal(value) for r in by_metric.get(metric, ()))
            for _, metric, value in readings
        )


@dataclass(slots=True)
class OpenAlarm:
    """Open the rule's alarm; `alarm_id` is filled in when the writer did."""

    device: DeviceContext
    rule: RuleSpec
    value: float | None
    ts: datetime
    details: dict[str, Any] | None = None
    alarm_id: int | None = None


@dataclass(slots=True)
class ClearAlarm:
    """Clear an alarm: a stored one (its id), or one this batch opened."""

    alarm: int | OpenAlarm
    ts: datetime
    value: float | None

    def alarm_id(self) -> int | None:
        return self.alarm if isinstance(self.alarm, int) else self.alarm.alarm_id


@dataclass(slots=True)
class RuleState:
    phase: str
    since: datetime
    last_ts: datetime
    last_value: float | None
    alarm: int | OpenAlarm | None

    def alarm_id(self) -> int | None:
        return self.alarm if not isinstance(self.alarm, OpenAlarm) else self.alarm.alarm_id


@dataclass
class Evaluation:
    effects: list[OpenAlarm | ClearAlarm] = field(default_factory=list)
    upserts: dict[StateKey, RuleState] = field(default_factory=dict)
    deletes: set[StateKey] = field(default_factory=set)


RulesFor = Callable[[DeviceContext], RuleSet]


def interesting(
    candidates: dict[int, list[Candidate]],
    contexts: dict[int, DeviceContext],
    rules_for: RulesFor,
    states: dict[StateKey, RuleState],
) -> list[int]:
    """Devices whose readings could change something: those with a kept state or an abnormal reading."""
    found: list[int] = []
    for device_id, readings in candidates.items():
        rule_set = rules_for(contexts[device_id])
        if any((device_id, r.code) in states for r in rule_set.rules) or rule_set.may_act(readings):
            found.append(device_id)
    return sorted(found)


def evaluate(
    device_ids: Sequence[int],
    candidates: dict[int, list[Candidate]],
    contexts: dict[int, DeviceContext],
    rules_for: RulesFor,
    states: dict[StateKey, RuleState],
) -> Evaluation:
    """Run the devices' readings, in time order, through their rules; `states` is updated in place."""
    out = Evaluation()
    effects, upserts, deletes = out.effects, out.upserts, out.deletes
    for device_id in device_ids:
        device = contexts[device_id]
        rules = rules_for(device).rules
        for ts, metric, value in sorted(candidates[device_id]):
            for rule in rules:
                key = (device_id, rule.code)
                st = states.get(key)
                if rule.kind == "absence" and rule.activity is not None:
                    # "No activity": track when the counter last increased (`since`); the cron job
                    # opens the alarm when that is too long ago, an increase clears it.
                    if rule.metric != metric or (st is not None and ts <= st.last_ts):
                        continue
                    if st is None:
                        st = RuleState("pending", ts, ts, value, None)
                        states[key], upserts[key] = st, st
                        deletes.discard(key)
                        continue
                    if value > (st.last_value if st.last_value is not None else value):
                        st.since = ts
                        if st.phase == "alarm" and st.alarm is not None:
                            effects.append(ClearAlarm(st.alarm, ts, value))
                        st.phase, st.alarm = "pending", None
                    st.last_ts, st.last_value = ts, value
                    upserts[key] = st
                    continue
                if rule.kind == "absence":
                    if st is not None and st.phase == "alarm" and (rule.metric in (None, metric)):
                        if st.alarm is not None:
                            effects.append(ClearAlarm(st.alarm, ts, value))
                        states.pop(key)
                        deletes.add(key)
                        upserts.pop(key, None)
                    continue
                if rule.metric != metric or (st is not None and ts <= st.last_ts):
                    continue
                if rule.kind == "rate":
                    if st is None:
                        st = RuleState("pending", ts, ts, value, None)
                        states[key], upserts[key] = st, st
                        deletes.discard(key)
                        continue
                    hours = max((ts - st.last_ts).total_seconds() / 3600, 1e-9)
                    rate = (value - (st.last_value or 0.0)) / hours
                    abnormal = rule.above_per_hour is not None and rate > rule.above_per_hour
                    st.last_ts, st.last_value = ts, value
                    upserts[key] = st
                    if st.phase == "pending" and abnormal:
                        opening = OpenAlarm(device, rule, rate, ts)
                        effects.append(opening)
                        st.phase, st.alarm, st.since = "alarm", opening, ts
                    elif st.phase == "alarm" and not abnormal:
                        if st.alarm is not None:
                            effects.append(ClearAlarm(st.alarm, ts, rate))
                        st.phase, st.alarm = "pending", None
                    continue
                abnormal = rule.abnormal(value)
                if st is None:
                    if not abnormal:
                        continue
                    st = RuleState("pending", ts, ts, value, None)
                    states[key] = st
                    deletes.discard(key)
                st.last_ts, st.last_value = ts, value
                upserts[key] = st
                if st.phase == "pending":
                    if not abnormal:
                        states.pop(key)
                        upserts.pop(key, None)
                        deletes.add(key)
                    elif (ts - st.since).total_seconds() >= rule.hold_s:
                        opening = OpenAlarm(device, rule, value, ts, {"since": st.since.isoformat(), "metric": metric})
                        effects.append(opening)
                        st.phase, st.alarm = "alarm", opening
                elif st.phase == "alarm" and rule.cleared(value):
                    if st.alarm is not None:
                        effects.append(ClearAlarm(st.alarm, ts, value))
                    states.pop(key)
                    upserts.pop(key, None)
                    deletes.add(key)
    return out
