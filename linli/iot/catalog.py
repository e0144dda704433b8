"""Device types, their metrics and rules: the catalog's defaults merged with tenant overrides."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.repository import DeviceTypeRepository, RuleRepository
from linli.platform.access import path_within

# Bumped after a commit that changed types or rule overrides: every ingest writer of this process
# reloads them on its next batch (other processes within the writer's cache time).
generation = 0


def invalidate_types() -> None:
    global generation
    generation += 1


@dataclass(frozen=True)
class MetricSpec:
    code: str
    kind: str
    low: float | None = None
    high: float | None = None

    def check(self, value: float) -> str | None:
        """None when acceptable, else why not."""
        if not math.isfinite(value):
            return "value is not a finite number"
        if self.kind == "flag" and value not in (0.0, 1.0):
            return f"{self.code} is a flag: 0 or 1"
        if self.low is not None and value < self.low:
            return f"{self.code}={value} below the range [{self.low}, {self.high}]"
        if self.high is not None and value > self.high:
            return f"{self.code}={value} above the range [{self.low}, {self.high}]"
        return None


@dataclass(frozen=True)
class Linkage:
    target_type: str
    scope: str
    command: str
    args: dict[str, Any]


@dataclass(frozen=True)
class RuleSpec:
    code: str
    kind: str
    severity: str
    metric: str | None = None
    above: float | None = None
    below: float | None = None
    clear_below: float | None = None
    clear_above: float | None = None
    hold_s: float = 0.0
    alarm_states: tuple[float, ...] = ()
    for_s: float = 0.0
    activity: str | None = None
    above_per_hour: float | None = None
    raises: str | None = None
    linkage: tuple[Linkage, ...] = ()
    enabled: bool = True

    def abnormal(self, value: float) -> bool:
        """Does this value start (or keep) the alarm condition?"""
        if self.kind == "threshold":
            if self.above is not None and value > self.above:
                return True
            return self.below is not None and value < self.below
        if self.kind == "state":
            return value in self.alarm_states
        return False

    def cleared(self, value: float) -> bool:
        """Does this value end an open alarm (hysteresis: the clear level, not the trigger level)?"""
        if self.kind == "threshold":
            if self.above is not None:
                limit = self.clear_below if self.clear_below is not None else self.above
                return value < limit
            if self.below is not None:
                limit = self.clear_above if self.clear_above is not None else self.below
                return value > limit
            return True
        if self.kind == "state":
            return value not in self.alarm_states
        return True


@dataclass(frozen=True)
class TypeSpec:
    code: str
    interval_s: int
    actuator: bool
    metrics: dict[str, MetricSpec]
    rules: tuple[RuleSpec, ...]
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateway: bool = False


RULE_PARAMS = {
    "above",
    "below",
    "clear_below",
    "clear_above",
    "hold_s",
    "alarm_states",
    "for_s",
    "above_per_hour",
    "severity",
    "raises",
    "enabled",
}


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def rule_from_spec(raw: dict[str, Any]) -> RuleSpec:
    return RuleSpec(
        code=raw["code"],
        kind=raw["kind"],
        severity=raw.get("severity", "medium"),
        metric=raw.get("metric"),
        above=_float(raw.get("above")),
        below=_float(raw.get("below")),
        clear_below=_float(raw.get("clear_below")),
        clear_above=_float(raw.get("clear_above")),
        hold_s=float(raw.get("hold_s", 0)),
        alarm_states=tuple(float(s) for s in raw.get("alarm_states", ())),
        for_s=float(raw.get("for_s", 0)),
        activity=raw.get("activity"),
        above_per_hour=_float(raw.get("above_per_hour")),
        raises=raw.get("raises"),
        linkage=tuple(
            Linkage(x["target_type"], x.get("scope", "same_space"), x["command"], dict(x.get("args", {})))
            for x in raw.get("linkage", ())
        ),
        enabled=bool(raw.get("enabled", True)),
    )


def type_from_spec(spec: dict[str, Any]) -> TypeSpec:
    metrics = {}
    for m in spec.get("metrics", []):
        low, high = (m.get("range") or (None, None))[:2]
        metrics[m["code"]] = MetricSpec(m["code"], m.get("kind", "gauge"), _float(low), _float(high))
    return TypeSpec(
        code=spec["code"],
        interval_s=int(spec.get("interval_s", 60)),
        actuator=bool(spec.get("actuator", False)),
        metrics=metrics,
        rules=tuple(rule_from_spec(r) for r in spec.get("rules", [])),
        commands={c["code"]: c for c in spec.get("commands", [])},
        gateway=bool(spec.get("gateway", False)),
    )


def apply_override(rule: RuleSpec, params: dict[str, Any], enabled: bool) -> RuleSpec:
    changes: dict[str, Any] = {"enabled": enabled}
    for key, value in params.items():
        if key not in RULE_PARAMS:
            continue
        if key == "alarm_states":
            changes[key] = tuple(float(s) for s in value)
        elif key in ("severity", "raises"):
            changes[key] = value
        elif key == "enabled":
            changes[key] = bool(value) and enabled
        else:
            changes[key] = _float(value)
    return replace(rule, **changes)


class TypeRegistry:
    """The catalog's device types and the tenants' own. A tenant's type applies at and below the node
    that defines it; the nearest definition wins, then the catalog's."""

    def __init__(self, catalog: dict[str, TypeSpec], custom: Iterable[tuple[str, TypeSpec]] = ()) -> None:
        self.catalog = catalog
        self.custom: dict[str, list[tuple[str, TypeSpec]]] = {}
        for root, spec in sorted(custom, key=lambda c: -c[0].count(".")):
            self.custom.setdefault(spec.code, []).append((root, spec))

    def get(self, code: str, node_path: str) -> TypeSpec | None:
        for root, spec in self.custom.get(code, ()):
            if path_within(node_path, root):
                return spec
        return self.catalog.get(code)

    def applicable(self, node_path: str) -> list[TypeSpec]:
        """The types a device at this place may have, by code."""
        codes = sorted(set(self.catalog) | set(self.custom))
        return [spec for code in codes if (spec := self.get(code, node_path)) is not None]

    def definitions(self) -> Iterator[tuple[str | None, TypeSpec]]:
        """Every definition with the node it applies under (None: the catalog's, everywhere)."""
        for spec in self.catalog.values():
            yield None, spec
        for found in self.custom.values():
            yield from found


async def load_types(session: AsyncSession) -> TypeRegistry:
    """Catalog types and the tenant types the session may read (all of them for system sessions)."""
    catalog, custom = await DeviceTypeRepository(session).specs()
    return TypeRegistry(
        {t.code: t for t in (type_from_spec(spec) for spec in catalog)},
        [(root, type_from_spec(spec)) for root, spec in custom],
    )


async def load_metric_ids(session: AsyncSession) -> dict[str, int]:
    return await DeviceTypeRepository(session).metric_ids()


@dataclass(frozen=True)
class Override:
    node_path: str
    type_code: str
    rule_code: str
    params: dict[str, Any]
    enabled: bool


async def load_overrides(session: AsyncSession) -> list[Override]:
    return [Override(*r) for r in await RuleRepository(session).all_overrides()]


def effective_rules(spec: TypeSpec, node_path: str, overrides: list[Override]) -> tuple[RuleSpec, ...]:
    """The type's rules with every override on the node's ancestors applied, outermost first."""
    rules = []
    for rule in spec.rules:
        for o in overrides:
            if o.type_code == spec.code and o.rule_code == rule.code and path_within(node_path, o.node_path):
                rule = apply_override(rule, o.params, o.enabled)
        if rule.enabled:
            rules.append(rule)
    return tuple(rules)
