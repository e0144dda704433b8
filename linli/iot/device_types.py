"""Device types (the catalog's and tenants' own) and rule overrides. Never commits; keyword-only arguments."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot.catalog import RULE_PARAMS, invalidate_types, load_types
from linli.iot.config import get_iot_settings
from linli.iot.devices import now
from linli.iot.models import TenantDeviceType
from linli.iot.repository import (
    DeviceRepository,
    DeviceTypeRepository,
    RuleRepository,
)
from linli.iot.schemas import (
    DeviceTypeBody,
    DeviceTypeCreate,
    DeviceTypeOut,
    MetricDef,
    RuleDef,
    TypeName,
)
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, after_commit, tenant_chain
from linli.platform.errors import BadRequest, Conflict
from linli.platform.hierarchy.service import NodeService


async def effective_rules_at(session: AsyncSession, *, node_path: str, type_code: str | None) -> list[dict[str, Any]]:
    types = await load_types(session)
    overrides = await RuleRepository(session).covering(node_path)
    out: list[dict[str, Any]] = []
    for spec in types.applicable(node_path):
        if type_code and spec.code != type_code:
            continue
        for rule in spec.rules:
            params: dict[str, Any] = {}
            where: list[str] = []
            enabled = True
            for o in overrides:
                if o.type_code == spec.code and o.rule_code == rule.code:
                    params.update(o.params)
                    enabled = o.enabled
                    where.append(o.node_path)
            base = {
                k: v
                for k, v in vars(rule).items()
                if k not in ("code", "kind", "linkage", "enabled") and v not in (None, (), 0.0)
            }
            out.append(
                {
                    "type": spec.code,
                    "code": rule.code,
                    "kind": rule.kind,
                    "params": base | params | {"enabled": enabled},
                    "overridden_at": where,
                }
            )
    return out


async def override_rule(
    session: AsyncSession,
    *,
    actor: Principal,
    node_id: int,
    type_code: str,
    rule_code: str,
    params: dict[str, Any],
    enabled: bool,
) -> dict[str, Any]:
    node = await NodeService(session).get_for(actor, node_id, Permission("rules", "update"))
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    spec = (await load_types(session)).get(type_code, node.node_path)
    if spec is None:
        raise BadRequest(f"unknown device type {type_code!r}", code="unknown_device_type")
    if rule_code not in {r.code for r in spec.rules}:
        raise BadRequest(f"{type_code} has no rule {rule_code!r}", code="unknown_rule")
    unknown = sorted(set(params) - RULE_PARAMS)
    if unknown:
        raise BadRequest(f"parameters that cannot be overridden: {', '.join(unknown)}", code="bad_rule_params")
    for key, value in params.items():
        if key in ("severity", "raises", "alarm_states", "enabled"):
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise BadRequest(f"{key} must be a number", code="bad_rule_params")
    rule = await RuleRepository(session).upsert(
        {
            "tenant_id": owners[-1].id,
            "node_id": node.id,
            "node_path": node.node_path,
            "type_code": type_code,
            "rule_code": rule_code,
            "params": json.dumps(params),
            "enabled": enabled,
        }
    )
    await audit.record(
        session,
        actor=actor,
        action="rule.override",
        object_type="rule",
        object_id=rule.id,
        node_path=node.node_path,
        after={"type": type_code, "rule": rule_code, "params": params, "enabled": enabled},
    )
    _reload_types_after_commit(session)
    found = await effective_rules_at(session, node_path=node.node_path, type_code=type_code)
    return next(r for r in found if r["code"] == rule_code)


def _reload_types_after_commit(session: AsyncSession) -> None:
    async def reload() -> None:
        invalidate_types()

    after_commit(session, reload)


# ---------------------------------------------------------------- device types (catalog and tenants' own)


def catalog_type_out(code: str, spec: dict[str, Any]) -> DeviceTypeOut:
    return DeviceTypeOut(
        id=None,
        code=code,
        source="catalog",
        tenant_id=None,
        node_id=None,
        node_path=None,
        name=TypeName(**spec["name"]),
        interval_s=int(spec.get("interval_s", 60)),
        actuator=bool(spec.get("actuator", False)),
        gateway=bool(spec.get("gateway", False)),
        metrics=spec.get("metrics", []),
        rules=spec.get("rules", []),
        commands=spec.get("commands", []),
        created_at=None,
        updated_at=None,
    )


def tenant_type_out(row: TenantDeviceType) -> DeviceTypeOut:
    return catalog_type_out(row.code, row.spec).model_copy(
        update={
            "id": row.id,
            "source": "tenant",
            "tenant_id": row.tenant_id,
            "node_id": row.node_id,
            "node_path": row.node_path,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


async def list_device_types(
    session: AsyncSession, *, node_path: str, code: str | None, source: str | None
) -> list[DeviceTypeOut]:
    """The catalog's types and the tenants' own that apply at the node or are defined below it."""
    repo = DeviceTypeRepository(session)
    out: list[DeviceTypeOut] = []
    if source in (None, "catalog"):
        out += [catalog_type_out(row.code, row.spec) for row in await repo.catalog(code)]
    if source in (None, "tenant"):
        out += [tenant_type_out(row) for row in await repo.around(node_path, code)]
    return sorted(out, key=lambda t: (t.code, t.id or 0))


async def get_device_type(session: AsyncSession, *, type_id: int) -> TenantDeviceType:
    """A tenant type row-level security shows the caller (those defined above its grants included)."""
    row = await DeviceTypeRepository(session).get(type_id)
    return await access_object(session, None, row, permission=Permission("device_types", "read"), what="device type")


async def _checked_spec(session: AsyncSession, *, code: str, node_path: str, body: DeviceTypeBody) -> dict[str, Any]:
    """The definition as stored (the catalog's shape), after the checks a schema cannot make."""

    def refuse(message: str, code: str = "bad_device_type") -> BadRequest:
        return BadRequest(message, code=code)

    for what, codes in (
        ("metric", [m.code for m in body.metrics]),
        ("rule", [r.code for r in body.rules]),
        ("command", [c.code for c in body.commands]),
    ):
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise refuse(f"{what} codes must be unique: {', '.join(twice)}")
    metrics = {m.code: m for m in body.metrics}
    for m in body.metrics:
        if m.range is not None and m.range[0] > m.range[1]:
            raise refuse(f"metric {m.code}: range [{m.range[0]}, {m.range[1]}] is upside down")
    for r in body.rules:
        for name in (r.metric, r.activity):
            if name is not None and name not in metrics:
                raise refuse(f"rule {r.code} names metric {name!r}, which the type does not report", "unknown_metric")
        problem = _rule_problem(r, metrics)
        if problem:
            raise refuse(f"rule {r.code}: {problem}", "bad_rule")
    raised = sorted({r.raises for r in body.rules if r.raises})
    missing = await DeviceTypeRepository(session).event_items_missing(raised)
    if missing:
        raise refuse(f"no event item {', '.join(missing)} in the taxonomy", "unknown_event_item")
    links = [link for r in body.rules for link in r.linkage]
    if links:
        types = await load_types(session)
        own = {c.code: c for c in body.commands}
        for link in links:
            if link.target_type == code:
                commands = {c: {"args": d.args} for c, d in own.items()} if body.actuator else {}
            else:
                target = types.get(link.target_type, node_path)
                commands = target.commands if target is not None and target.actuator else {}
            if link.command not in commands:
                raise refuse(
                    f"linkage: no actuator type {link.target_type!r} with the command {link.command!r} here",
                    "bad_linkage",
                )
            extra = sorted(set(link.args) - set(commands[link.command].get("args", {})))
            if extra:
                raise refuse(f"linkage: {link.command} takes no argument {', '.join(extra)}", "bad_linkage")
    return {"code": code} | body.model_dump(mode="json", exclude_none=True, exclude={"node_id", "code"})


def _rule_problem(rule: RuleDef, metrics: dict[str, MetricDef]) -> str | None:
    if rule.kind != "absence" and rule.metric is None:
        return f"a {rule.kind} rule needs a metric"
    if rule.kind == "threshold":
        if (rule.above is None) == (rule.below is None):
            return "a threshold rule has either above or below"
        if rule.above is not None and rule.clear_below is not None and rule.clear_below > rule.above:
            return "clear_below must not exceed above (hysteresis)"
        if rule.below is not None and rule.clear_above is not None and rule.clear_above < rule.below:
            return "clear_above must not be under below (hysteresis)"
    if rule.kind == "state" and not rule.alarm_states:
        return "a state rule needs alarm_states"
    if rule.kind == "absence":
        if rule.for_s is None:
            return "an absence rule needs for_s"
        if rule.activity is not None and metrics[rule.activity].kind != "counter":
            return "activity must name a counter metric"
    if rule.kind == "rate" and (rule.above_per_hour is None or rule.above_per_hour <= 0):
        return "a rate rule needs a positive above_per_hour"
    return None


async def _register_metrics(session: AsyncSession, *, tenant_id: int, body: DeviceTypeBody) -> None:
    """Metric ids are a platform-wide dictionary: a tenant may add at most its limit of new codes."""
    limit = get_iot_settings().iot_max_metrics_per_tenant
    introduced, missing = await DeviceTypeRepository(session).register_metrics(
        tenant_id=tenant_id, codes=[m.code for m in body.metrics], limit=limit
    )
    if introduced + missing > limit:
        raise Conflict(
            f"this tenant's device types have introduced {introduced} metric codes; {missing} more would exceed "
            f"the limit of {limit}: reuse existing codes (the catalog's or your own)",
            code="metric_limit_exceeded",
        )


def _type_snapshot(row: TenantDeviceType) -> dict[str, Any]:
    return {"code": row.code, "node_id": row.node_id, "spec": row.spec}


async def create_device_type(session: AsyncSession, *, actor: Principal, body: DeviceTypeCreate) -> DeviceTypeOut:
    node = await NodeService(session).get_for(actor, body.node_id, Permission("device_types", "create"))
    owners = await tenant_chain(session, node.node_path)
    if not owners:
        raise BadRequest("the node belongs to no tenant", code="no_tenant")
    repo = DeviceTypeRepository(session)
    taken = Conflict(
        f"a device type {body.code!r} already applies here or below; pick another code", code="device_type_exists"
    )
    if await DeviceRepository(session).type_defined(body.code, node.node_path) or await repo.around(
        node.node_path, body.code
    ):
        raise taken
    spec = await _checked_spec(session, code=body.code, node_path=node.node_path, body=body)
    await _register_metrics(session, tenant_id=owners[-1].id, body=body)
    try:
        async with session.begin_nested():
            row = await repo.add(
                TenantDeviceType(
                    tenant_id=owners[-1].id,
                    node_id=node.id,
                    node_path=node.node_path,
                    code=body.code,
                    name=body.name.zh,
                    name_en=body.name.en,
                    interval_s=body.interval_s,
                    actuator=body.actuator,
                    spec=spec,
                )
            )
    except IntegrityError as exc:  # the same code elsewhere in this tenant, out of the caller's sight
        raise taken from exc
    await audit.record(
        session,
        actor=actor,
        action="device_type.create",
        object_type="device_type",
        object_id=row.id,
        node_path=row.node_path,
        after=_type_snapshot(row),
    )
    _reload_types_after_commit(session)
    return tenant_type_out(row)


async def update_device_type(
    session: AsyncSession, *, actor: Principal, type_id: int, body: DeviceTypeBody
) -> DeviceTypeOut:
    """Replace the definition (the code and node stay). Readings of metrics it drops are refused from now."""
    row = await access_object(
        session,
        actor,
        await DeviceTypeRepository(session).get(type_id),
        permission=Permission("device_types", "update"),
        what="device type",
    )
    spec = await _checked_spec(session, code=row.code, node_path=row.node_path, body=body)
    before = _type_snapshot(row)
    await _register_metrics(session, tenant_id=row.tenant_id, body=body)
    row.spec, row.name, row.name_en = spec, body.name.zh, body.name.en
    row.interval_s, row.actuator, row.updated_at = body.interval_s, body.actuator, now()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="device_type.update",
        object_type="device_type",
        object_id=row.id,
        node_path=row.node_path,
        before=before,
        after=_type_snapshot(row),
    )
    _reload_types_after_commit(session)
    return tenant_type_out(row)


async def delete_device_type(session: AsyncSession, *, actor: Principal, type_id: int) -> None:
    """Only while no device (revoked ones included: their telemetry keeps its meaning) has the type."""
    row = await access_object(
        session,
        actor,
        await DeviceTypeRepository(session).get(type_id),
        permission=Permission("device_types", "delete"),
        what="device type",
    )
    used = await DeviceRepository(session).count_of_type(row.code, row.node_path)
    if used:
        raise Conflict(
            f"{used} device(s) have the type {row.code!r}; revoke and re-register them first",
            code="device_type_in_use",
        )
    before = _type_snapshot(row)
    await RuleRepository(session).delete_for_type(row.code, row.node_path)
    await DeviceTypeRepository(session).delete(row)
    await audit.record(
        session,
        actor=actor,
        action="device_type.delete",
        object_type="device_type",
        object_id=type_id,
        node_path=row.node_path,
        before=before,
    )
    _reload_types_after_commit(session)
