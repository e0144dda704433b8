"""Loads the shipped catalogs into their reference tables (upserts: safe to run again)."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.catalogs import load


async def seed_catalogs(session: AsyncSession) -> dict[str, int]:
    taxonomy = load("event_taxonomy")
    lines = [
        {"code": line["code"], "name": line["name"]["zh"], "name_en": line["name"]["en"], "position": i}
        for i, line in enumerate(taxonomy["lines"])
    ]
    items = [
        {
            "code": item["code"],
            "line_code": line["code"],
            "name": item["name"]["zh"],
            "name_en": item["name"]["en"],
            "handler": item["handler"],
            "severity": item["severity"],
            "accept": item["sla"]["accept"],
            "resolve": item["sla"]["resolve"],
            "evidence": item.get("evidence") == "required",
            "sources": item.get("sources", []),
        }
        for line in taxonomy["lines"]
        for item in line["items"]
    ]
    await session.execute(
        text(
            "insert into event_lines (code, name, name_en, position) values (:code, :name, :name_en, :position) "
            "on conflict (code) do update set name = excluded.name, name_en = excluded.name_en, "
            "position = excluded.position"
        ),
        lines,
    )
    await session.execute(
        text(
            "insert into event_items (code, line_code, name, name_en, handler, severity, accept_minutes, "
            "resolve_minutes, evidence_required, sources) values (:code, :line_code, :name, :name_en, :handler, "
            ":severity, :accept, :resolve, :evidence, :sources) on conflict (code) do update set "
            "line_code = excluded.line_code, name = excluded.name, name_en = excluded.name_en, "
            "handler = excluded.handler, severity = excluded.severity, accept_minutes = excluded.accept_minutes, "
            "resolve_minutes = excluded.resolve_minutes, evidence_required = excluded.evidence_required, "
            "sources = excluded.sources"
        ),
        items,
    )
    devices = [
        {
            "code": t["code"],
            "name": t["name"]["zh"],
            "name_en": t["name"]["en"],
            "interval_s": t["interval_s"],
            "actuator": bool(t.get("actuator")),
            "spec": json.dumps(t),
        }
        for t in load("device_catalog")["types"]
    ]
    await session.execute(
        text(
            "insert into device_types (code, name, name_en, interval_s, actuator, spec) values (:code, :name, "
            ":name_en, :interval_s, :actuator, cast(:spec as jsonb)) on conflict (code) do update set "
            "name = excluded.name, name_en = excluded.name_en, interval_s = excluded.interval_s, "
            "actuator = excluded.actuator, spec = excluded.spec"
        ),
        devices,
    )
    services = [
        {
            "code": s["code"],
            "section_code": sec["code"],
            "section_name": sec["name"]["zh"],
            "section_name_en": sec["name"]["en"],
            "kind": s["kind"],
            "name": s["name"]["zh"],
            "name_en": s["name"]["en"],
            "item_code": s.get("item"),
            "position": pos,
        }
        for pos, (sec, s) in enumerate((sec, s) for sec in load("service_catalog")["sections"] for s in sec["services"])
    ]
    await session.execute(
        text(
            "insert into service_definitions (code, section_code, section_name, section_name_en, kind, name, "
            "name_en, item_code, position) values (:code, :section_code, :section_name, :section_name_en, :kind, "
            ":name, :name_en, :item_code, :position) on conflict (code) do update set "
            "section_code = excluded.section_code, section_name = excluded.section_name, "
            "section_name_en = excluded.section_name_en, kind = excluded.kind, name = excluded.name, "
            "name_en = excluded.name_en, item_code = excluded.item_code, position = excluded.position"
        ),
        services,
    )
    care = [
        {
            "code": c["code"],
            "name": c["name"]["zh"],
            "name_en": c["name"]["en"],
            "not_seen_hours": c["not_seen_hours"],
            "visit_every_days": c["visit_every_days"],
        }
        for c in load("care_categories")["categories"]
    ]
    await session.execute(
        text(
            "insert into care_categories (code, name, name_en, not_seen_hours, visit_every_days) values (:code, "
            ":name, :name_en, :not_seen_hours, :visit_every_days) on conflict (code) do update set "
            "name = excluded.name, name_en = excluded.name_en, not_seen_hours = excluded.not_seen_hours, "
            "visit_every_days = excluded.visit_every_days"
        ),
        care,
    )
    return {
        "event_items": len(items),
        "device_types": len(devices),
        "services": len(services),
        "care_categories": len(care),
    }
