"""Grafana cannot run on these machines. What is tested instead, for real: the reporting schema and
role each tenant's Grafana datasource uses, every panel's and variable's SQL executed as that role,
and the HTTP calls of the provisioning against a recording stand-in that answers like Grafana's API."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from linli.dashboards import grafana
from linli.dashboards.reporting import reporting_for
from linli.dashboards.service import sync_grafana
from linli.platform.hierarchy.models import NodeLevel
from linli.platform.settings import get_settings

PG = os.environ.get("LINLI_TEST_PG", "127.0.0.1:55432")


def admin() -> psycopg.Connection[Any]:
    return psycopg.connect(get_settings().migrate_database_url.replace("postgresql+psycopg://", "postgresql://"))


def tenant(slug: str) -> tuple[int, str, str]:
    with admin() as conn:
        row = conn.execute(
            "select t.id, t.node_path::text, n.level from tenants t join nodes n on n.id = t.node_id where t.slug = %s",
            (slug,),
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1]), str(row[2])


def as_tenant_role(slug: str) -> psycopg.Connection[Any]:
    tenant_id, _, _ = tenant(slug)
    r = reporting_for(tenant_id, slug)
    db = get_settings().migrate_database_url.rsplit("/", 1)[1]
    return psycopg.connect(f"postgresql://{r.role}:{r.password}@{PG}/{db}", autocommit=True)


def expand(sql: str, node: str, start: datetime, end: datetime) -> str:
    """Do what Grafana does to a panel's SQL before sending it: macros and variables."""
    return (
        sql.replace("$__timeFrom()", f"'{start.isoformat()}'::timestamptz")
        .replace("$__timeTo()", f"'{end.isoformat()}'::timestamptz")
        .replace("$node", node)
    )


@pytest.fixture(scope="module")
def provisioned(migrated_database: str) -> None:
    import asyncio

    from linli.platform.db import dispose_engines

    async def go() -> None:
        await sync_grafana()
        await dispose_engines()

    asyncio.run(go())


def test_every_panel_and_variable_runs_as_the_tenant_role(provisioned: None) -> None:
    _, path, level = tenant("mumianling")
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    dashboards = list(grafana.tenant_dashboards("木棉岭社区", level, grafana.datasource_uid("mumianling")))
    assert [d["uid"] for d in dashboards] == ["linli-community", "linli-grid", "linli-estate"]
    with as_tenant_role("mumianling") as conn:
        nodes = {
            lvl: conn.execute("select node_path::text from nodes where level = %s order by 1", (lvl,)).fetchall()
            for lvl in ("community", "grid", "estate")
        }
        assert nodes["community"] == [(path,)]
        assert len(nodes["grid"]) == 3
        ran = 0
        for dashboard in dashboards:
            lvl = dashboard["tags"][1]
            node = nodes[lvl][0][0]
            for variable in dashboard["templating"]["list"]:
                rows = conn.execute(expand(variable["query"], node, start, end)).fetchall()
                assert rows, variable["name"]
                ran += 1
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    conn.execute(expand(target["rawSql"], node, start, end)).fetchall()
                    ran += 1
            drill = [p for p in dashboard["panels"] if p["title"].startswith("下级")]
            if lvl != "estate":
                rows = conn.execute(expand(drill[0]["targets"][0]["rawSql"], node, start, end)).fetchall()
                assert rows and all(str(r[1]).startswith(node + ".") for r in rows)
        assert ran > 20


def test_the_patrol_kpi_counts_the_tenants_rounds_on_time(provisioned: None) -> None:
    """One round done in time and one late in the window: Grafana's patrol panel shows 50 % on time."""
    _, path, level = tenant("mumianling")
    panel = next(p for p in grafana.panels_for(NodeLevel(level)) if p.title.startswith("巡查"))
    end = datetime.now(UTC)
    with admin() as conn:
        node_id, assignee = conn.execute(
            "select n.id, u.id from nodes n, users u where n.node_path = %s and u.email = 'staff@mumianling.demo'",
            (path,),
        ).fetchone() or (None, None)
        (plan_id,) = conn.execute(
            "insert into patrol_plans (node_id, node_path, name, assignee_id, schedule, window_minutes) "
            "values (%s, %s, 'kpi test plan', %s, '{}', 60) returning id",
            (node_id, path, assignee),
        ).fetchone() or (None,)
        for hours, status in ((3, "done"), (2, "late")):
            conn.execute(
                "insert into patrol_rounds (plan_id, node_path, assignee_id, due_at, deadline_at, status) "
                "values (%s, %s, %s, %s, %s, %s)",
                (plan_id, path, assignee, end - timedelta(hours=hours), end - timedelta(hours=hours - 1), status),
            )
        conn.commit()
    try:
        with as_tenant_role("mumianling") as conn:
            row = conn.execute(expand(panel.sql, path, end - timedelta(hours=4), end)).fetchone()
        assert row is not None
        done, late, _open, _missed, on_time_pct = row
        assert (done, late, float(on_time_pct)) == (1, 1, 50.0)
    finally:
        with admin() as conn:
            conn.execute("delete from patrol_plans where id = %s", (plan_id,))


def test_the_tenant_role_reads_only_its_own_schema(provisioned: None) -> None:
    with as_tenant_role("mumianling") as conn:
        for forbidden in (
            "select count(*) from public.events",
            "select count(*) from public.nodes",
            "select count(*) from public.telemetry",
            "select count(*) from grafana_nanhong.events",
            "select * from public.linli_tenant_by_slug('nanhong')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
        outside = conn.execute("select * from event_kpis('d510107'::ltree, now() - interval '1 day', now())")
        assert outside.fetchall() == []
        inside = conn.execute(
            "select total from event_kpis('d440303.s005.c001'::ltree, now() - interval '1 day', now())"
        )
        assert len(inside.fetchall()) == 1
        assert conn.execute("select count(*) from nodes where not node_path <@ 'd440303.s005.c001'").fetchone() == (0,)


def test_dashboards_link_down_with_data_links_and_up_with_breadcrumbs() -> None:
    dashboards = {d["uid"]: d for d in grafana.tenant_dashboards("东晓街道", "street", "linli-dongxiao")}
    assert list(dashboards) == ["linli-street", "linli-community", "linli-grid", "linli-estate"]
    street_drill = next(p for p in dashboards["linli-street"]["panels"] if p["title"].startswith("下级"))
    link = street_drill["fieldConfig"]["overrides"][0]["properties"][0]["value"][0]["url"]
    assert link.startswith("/d/linli-community?var-node=${__data.fields.node_path}")
    estate_links = [link["url"] for link in dashboards["linli-estate"]["links"]]
    assert estate_links == [
        f"/d/linli-{lvl}?var-node=${{up_{lvl}}}&${{__url_time_range}}" for lvl in ("street", "community", "grid")
    ]
    variables = {v["name"] for v in dashboards["linli-estate"]["templating"]["list"]}
    assert {"node", "up_street", "up_community", "up_grid"} <= variables
    assert not any(p["title"].startswith("下级") for p in dashboards["linli-estate"]["panels"])
    assert [lvl.value for lvl in grafana.levels_for("community")] == [lvl.value for lvl in list(NodeLevel)[2:]]


@dataclass
class FakeGrafana:
    """Answers the few Grafana HTTP API calls provisioning makes, the way Grafana does, and records them."""

    orgs: dict[str, int] = field(default_factory=dict)
    datasources: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, str | None, Any]] = field(default_factory=list)

    def handle(self, method: str, path: str, org: str | None, body: Any) -> tuple[int, Any]:
        self.calls.append((method, path, org, body))
        org_id = int(org) if org else 1
        if method == "GET" and (m := re.fullmatch(r"/api/orgs/name/(.+)", path)):
            from urllib.parse import unquote

            name = unquote(m.group(1))
            return (
                (200, {"id": self.orgs[name], "name": name}) if name in self.orgs else (404, {"message": "not found"})
            )
        if method == "POST" and path == "/api/orgs":
            self.orgs[body["name"]] = len(self.orgs) + 2
            return 200, {"orgId": self.orgs[body["name"]], "message": "Organization created"}
        if m := re.fullmatch(r"/api/datasources/uid/(.+)", path):
            key = (org_id, m.group(1))
            if method == "GET":
                return (200, self.datasources[key]) if key in self.datasources else (404, {"message": "not found"})
            self.datasources[key] = body
            return 200, {"message": "Datasource updated"}
        if method == "POST" and path == "/api/datasources":
            self.datasources[(org_id, body["uid"])] = body
            return 200, {"message": "Datasource added", "id": len(self.datasources)}
        if method == "POST" and path == "/api/dashboards/db":
            key = (org_id, body["dashboard"]["uid"])
            version = self.dashboards.get(key, {}).get("version", 0) + 1
            self.dashboards[key] = body["dashboard"] | {"version": version}
            return 200, {"status": "success", "uid": key[1], "version": version}
        return 404, {"message": f"unexpected {method} {path}"}


@pytest.fixture
def fake_grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            assert self.headers.get("authorization", "").startswith("Basic ")
            status, answer = fake.handle(self.command, self.path, self.headers.get("x-grafana-org-id"), body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    os.environ["LINLI_GRAFANA_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    get_settings.cache_clear()
    yield fake, os.environ["LINLI_GRAFANA_URL"]
    del os.environ["LINLI_GRAFANA_URL"]
    get_settings.cache_clear()
    server.shutdown()


def test_provisioning_calls_are_idempotent(fake_grafana: tuple[FakeGrafana, str], migrated_database: str) -> None:
    import asyncio

    from linli.platform.db import dispose_engines

    fake, _ = fake_grafana

    async def go() -> list[str]:
        try:
            return await sync_grafana(slug="mumianling")
        finally:
            await dispose_engines()

    assert asyncio.run(go()) == ["mumianling"]
    first = list(fake.calls)
    assert [c[:2] for c in first if c[0] != "GET"][:2] == [("POST", "/api/orgs"), ("POST", "/api/datasources")]
    org_id = fake.orgs["Linli · 木棉岭社区 (mumianling)"]
    datasource = fake.datasources[(org_id, "linli-mumianling")]
    assert datasource["user"] == "linli_grafana_mumianling" and datasource["type"] == grafana.DATASOURCE_TYPE
    assert datasource["secureJsonData"]["password"] == reporting_for(tenant("mumianling")[0], "mumianling").password
    assert sorted(uid for org, uid in fake.dashboards if org == org_id) == [
        "linli-community",
        "linli-estate",
        "linli-grid",
    ]
    assert all(c[2] == str(org_id) for c in first if c[1].startswith(("/api/datasources", "/api/dashboards")))

    fake.calls.clear()
    assert asyncio.run(go()) == ["mumianling"]
    second = [c[:2] for c in fake.calls]
    assert ("POST", "/api/orgs") not in second and ("POST", "/api/datasources") not in second
    assert ("PUT", "/api/datasources/uid/linli-mumianling") in second
    assert len(fake.orgs) == 1 and len(fake.datasources) == 1
    assert {d["version"] for d in fake.dashboards.values()} == {2}
    assert all(c[3]["overwrite"] is True for c in fake.calls if c[1] == "/api/dashboards/db")
