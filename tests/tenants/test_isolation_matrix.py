"""The isolation matrix, generated from the app's own route list: a new endpoint is covered the moment it
is mounted. (a) every endpoint declares a permission; (b) a Luohu account gets 404 for every Wuhou
object; (c) an auditor gets 403 on every mutation; (d) a grid worker sees only his grid; (e) a resident
only his own records."""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from linli.platform.access import PERMISSION_DEPENDENCIES
from linli.platform.app import create_app
from tests.conftest import Login
from tests.tenants.openapi_examples import Generator, build_call
from tests.tenants.support import (
    LUOHU,
    MUMIANLING_ESTATE,
    WUHOU,
    all_items,
    nanhong_objects,
    node_by_name,
    node_id,
    objects_at,
    superuser,
    tenant_id,
    within,
)

# Endpoints anyone may call (the caller is not yet known), and /me (any signed-in principal, about itself).
PUBLIC_PATTERNS = ("/healthz", "/readyz", "/metrics", "/api/v1/auth/*", "/api/v1/me", "/api/v1/me/permissions")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
READ_ACTIONS = {"read", "export"}


@cache
def application() -> FastAPI:
    return create_app()


def declared_paths(constant: str) -> list[str]:
    """Every path listed in a module-level constant of that name in Linli's modules."""
    application()  # imports every router module
    found: list[str] = []
    for name, module in list(sys.modules.items()):
        if name.startswith("linli") and module is not None:
            paths = getattr(module, constant, None)
            if isinstance(paths, list | tuple | set | frozenset):
                found.extend(str(p) for p in paths)
    return found


def public_patterns() -> tuple[str, ...]:
    """The fixed allow-list plus every `PUBLIC_PATHS` constant in Linli's modules (Open311, device
    ingest, the resident portal's sign-in pages...)."""
    return (*PUBLIC_PATTERNS, *declared_paths("PUBLIC_PATHS"))


def is_public(path: str) -> bool:
    # A pattern ending in "/" covers what lies below it, except the bare root (the portal's page).
    return any(
        path == p or fnmatch.fnmatchcase(path, p) or (p != "/" and p.endswith("/") and path.startswith(p))
        for p in public_patterns()
    )


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    dependant: Dependant

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)(?::\w+)?}", self.path)


def api_routes(app: FastAPI) -> list[tuple[str, set[str], Dependant]]:
    """(path, methods, dependant) of every APIRoute, also inside included routers (FastAPI 0.16x keeps
    those as `_IncludedRouter`s; `iter_route_contexts` gives their effective path and dependencies)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI flattens included routers into app.routes
        return [(r.path, set(r.methods), r.dependant) for r in app.routes if isinstance(r, APIRoute)]
    out = []
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            out.append((str(context.path), set(context.methods or ()), context.dependant))
    return out


def endpoints() -> list[Endpoint]:
    out = []
    for path, methods, dependant in api_routes(application()):
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            out.append(Endpoint(method, path, dependant))
    return out


def permissions(dependant: Dependant) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call in PERMISSION_DEPENDENCIES:
            found.append(PERMISSION_DEPENDENCIES[current.call])  # type: ignore[index]
        stack.extend(current.dependencies)
    return found


PROTECTED = [e for e in endpoints() if not is_public(e.path)]
WITH_PARAMS = [e for e in PROTECTED if e.path_params]


def read_only(endpoint: Endpoint) -> bool:
    """A POST that only reads (a search with a body) declares read permissions only."""
    declared = permissions(endpoint.dependant)
    return bool(declared) and all(action in READ_ACTIONS for _, action in declared)


MUTATIONS = [e for e in PROTECTED if e.method in MUTATING and not read_only(e)]


def test_the_matrix_sees_the_routes() -> None:
    paths = {str(e) for e in PROTECTED}
    assert {"GET /api/v1/nodes/{node_id}", "POST /api/v1/tenants", "DELETE /api/v1/grants/{grant_id}"} <= paths
    assert len(WITH_PARAMS) >= 10 and len(MUTATIONS) >= 10
    assert not is_public("/api/v1/nodes") and is_public("/api/v1/auth/token")


@pytest.mark.parametrize("endpoint", endpoints(), ids=str)
def test_every_endpoint_declares_a_permission(endpoint: Endpoint) -> None:
    """(a) Every endpoint but the public ones depends on `access.require(resource, action)`."""
    if is_public(endpoint.path):
        return
    assert permissions(endpoint.dependant), (
        f"{endpoint} has no permission: add `principal: Annotated[Principal, require(resource, action)]` "
        "(or list the path in a module-level PUBLIC_PATHS if it really is public)"
    )


# ---------------------------------------------------------------------------------------------------
# Real Wuhou objects, by the name of the parameter or field that carries their id.


# Tables whose name is not the plural of the id parameter.
TABLE_ALIASES = {
    "person": ["people"],
    "rule": [],
    "device_type": ["tenant_device_types"],
    "webhook": ["webhook_endpoints"],
    "import": ["ledger_imports"],
}


def candidate_tables(param: str, path: str) -> list[str]:
    """Tables that may hold the object a path parameter names: first the collection the URL puts it in
    (`/routing-rules/{rule_id}` → routing_rules, `/events/{event_id}/attachments/{attachment_id}` →
    event_attachments), then the parameter's own stem."""
    stem = param.removesuffix("_id")
    segments = [seg for seg in path.split("/") if seg]
    out: list[str] = []
    marker = "{" + param + "}"
    if marker in segments and segments.index(marker) > 0:
        collection = segments[segments.index(marker) - 1].replace("-", "_")
        out.append(collection)
        parents = [seg for seg in segments[: segments.index(marker) - 1] if not seg.startswith("{")]
        if parents:
            out.append(f"{parents[-1].rstrip('s')}_{collection}")
    out += TABLE_ALIASES.get(stem, [stem + "s", stem + "es", stem])
    return list(dict.fromkeys(out))


def wuhou_object_in(param: str, root: str = WUHOU, *, path: str = "", outside: str | None = None) -> Any | None:
    """For a parameter such as `device_id`: the id of a real row under `root` (and not under `outside`)
    of the table that holds such objects, so that endpoints other domains add are checked with real
    objects. None when there is none: the generated request then names an id that cannot exist."""
    if not param.endswith("_id"):
        return None
    with superuser() as conn:
        for table in candidate_tables(param, path):
            has = conn.execute(
                """select count(*) from information_schema.columns where table_schema = 'public'
                   and table_name = %s and column_name in ('id', 'node_path')""",
                (table,),
            ).fetchone()
            if has and has[0] == 2:
                row = conn.execute(
                    f'select id from "{table}" where node_path <@ %s::ltree '
                    "and not coalesce(node_path <@ %s::ltree, false) order by id limit 1",
                    (root, outside),
                ).fetchone()
                if row is not None:
                    return row[0]
                return None
    return None


async def wuhou_ids(client: httpx.AsyncClient, login: Login, community_path: str | None = None) -> dict[str, Any]:
    community = node_id(community_path) if community_path else node_by_name("南虹村社区")[0]
    street = node_id(f"{WUHOU}.s001")
    with superuser() as conn:
        grant = conn.execute(
            "select g.id from role_grants g join users u on u.id = g.user_id where u.email = 'auditor@wuhou.demo'"
        ).fetchone()
        user = conn.execute("select id from users where email = 'admin@wuhou.demo'").fetchone()
    assert grant is not None and user is not None
    response = await client.post(
        "/api/v1/api-keys",
        json={"name": "wuhou matrix key", "node_id": street, "roles": ["integration"]},
        headers=await login("admin@wuhou.demo"),
    )
    assert response.status_code == 201, response.text
    return {
        "node_id": community,
        "parent_id": street,
        "new_parent_id": street,
        "tenant_id": tenant_id("yulin"),
        "grant_id": grant[0],
        "user_id": str(user[0]),
        "key_id": response.json()["id"],
    }


MUMIANLING = f"{LUOHU}.s005.c001"
# Query parameters that must name something real (a metric of the objects' smoke detector).
QUERY_DEFAULTS = {"/api/v1/devices/{device_id}/telemetry": {"metric": "smoke_alarm"}}
KNOWN_ID_PARAMS = {"node_id", "parent_id", "new_parent_id", "parent_street_id", "tenant_id", "grant_id", "user_id"}


def real_ids(endpoint: Endpoint, known: dict[str, Any], root: str) -> dict[str, Any]:
    """Every path parameter of `endpoint` filled with a real object under `root`: from `known`, else a
    committed row of the table that holds such objects."""
    ids = {p: known[p] for p in endpoint.path_params if p in known}
    for param in endpoint.path_params:
        if param not in ids:
            found = wuhou_object_in(param, root, path=endpoint.path)
            if found is None:
                pytest.fail(f"{endpoint}: no object for {param} under {root}: add one to support.objects_at")
            ids[param] = found
    return ids


@pytest.mark.parametrize("endpoint", WITH_PARAMS, ids=str)
async def test_luohu_gets_404_for_every_wuhou_object(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    """(b) Read and write: a Luohu district administrator (who may do everything in Luohu) asking for
    a real Wuhou object gets exactly what he would get for a missing one. Reading the same kind of
    object in Luohu works, so the 404 is the boundary's and not a broken route's."""
    spec = application().openapi()
    admin = await login("admin@luohu.demo")
    wuhou = real_ids(endpoint, await wuhou_ids(client, login) | await nanhong_objects(db), WUHOU)
    call = build_call(spec, endpoint.path, endpoint.method, wuhou)
    response = await client.request(endpoint.method, call.url, headers=admin, **call.kwargs())
    assert response.status_code == 404, (str(endpoint), call.url, response.status_code, response.text)
    assert response.json()["error"]["code"] in ("not_found", *[f"{p.removesuffix('_id')}_not_found" for p in wuhou])
    if endpoint.method == "GET":
        luohu = {"node_id": node_id(MUMIANLING), "tenant_id": tenant_id("mumianling")}
        own = real_ids(endpoint, luohu | await objects_at(db, MUMIANLING_ESTATE), LUOHU)
        call = build_call(spec, endpoint.path, endpoint.method, own, QUERY_DEFAULTS.get(endpoint.path))
        response = await client.request(endpoint.method, call.url, headers=admin, **call.kwargs())
        assert response.status_code == 200, (str(endpoint), call.url, response.status_code, response.text)


def body_fields(endpoint: Endpoint) -> set[str]:
    spec = application().openapi()
    operation = spec.get("paths", {}).get(endpoint.path, {}).get(endpoint.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    return set(Generator(spec).resolve(schema).get("properties", {}))


@pytest.mark.parametrize("endpoint", WITH_PARAMS, ids=str)
async def test_another_community_gets_404_for_objects_outside_it(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login
) -> None:
    """Tenants of one district are apart too: 南虹村社区's staff and objects elsewhere in Wuhou (another
    street's community, the 玉林 street tenant around them, the district's grants). Reads are 404;
    anything else is 404, or 403 where the role may not do it anywhere (which reveals nothing either)."""
    ids = await wuhou_ids(client, login, f"{WUHOU}.s001.c001")
    nanhong = node_by_name("南虹村社区")[1]
    for param in endpoint.path_params:
        if param not in ids and (found := wuhou_object_in(param, path=endpoint.path, outside=nanhong)) is not None:
            ids[param] = found
    call = build_call(application().openapi(), endpoint.path, endpoint.method, ids)
    response = await client.request(
        endpoint.method, call.url, headers=await login("staff@nanhong.demo"), **call.kwargs()
    )
    reads = all(action == "read" for _, action in permissions(endpoint.dependant))
    expected = (404,) if reads else (403, 404)
    assert response.status_code in expected, (str(endpoint), call.url, response.status_code, response.text)


# Fields a schema cannot express (a routing rule names exactly one of item or line).
BODY_DEFAULTS: dict[str, dict[str, Any]] = {"/api/v1/routing-rules": {"line": "safety_fire"}}

BODY_ID_CASES = [
    e for e in PROTECTED if e.method in MUTATING and not e.path_params and body_fields(e) & KNOWN_ID_PARAMS
]


@pytest.mark.parametrize("endpoint", BODY_ID_CASES, ids=str)
async def test_luohu_gets_404_for_wuhou_ids_in_a_body(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login
) -> None:
    """(b) Writes that name a Wuhou node (or tenant) in their body: 404 as well, nothing created."""
    spec = application().openapi()
    named = body_fields(endpoint) & KNOWN_ID_PARAMS
    ids = await wuhou_ids(client, login)
    # Only the id fields point into Wuhou; e.g. onboarding by node_id, not by name and street.
    overrides = BODY_DEFAULTS.get(endpoint.path, {}) | {k: ids[k] for k in named if k in ids}
    call = build_call(spec, endpoint.path, endpoint.method, {}, overrides)
    if isinstance(call.json, dict) and "node_id" in call.json:
        call.json.pop("parent_street_id", None)
        call.json.pop("community_name", None)
    response = await client.request(endpoint.method, call.url, headers=await login("admin@luohu.demo"), **call.kwargs())
    assert response.status_code == 404, (str(endpoint), call.json, response.status_code, response.text)


@pytest.mark.parametrize("endpoint", MUTATIONS, ids=str)
async def test_auditor_gets_403_on_every_mutation(endpoint: Endpoint, client: httpx.AsyncClient, login: Login) -> None:
    """(c) With a valid body and an object inside his own scope, an auditor may still change nothing."""
    ids = await wuhou_ids(client, login)
    for param in endpoint.path_params:
        if param not in ids and (found := wuhou_object_in(param, path=endpoint.path)) is not None:
            ids[param] = found
    call = build_call(application().openapi(), endpoint.path, endpoint.method, ids)
    response = await client.request(
        endpoint.method, call.url, headers=await login("auditor@wuhou.demo"), **call.kwargs()
    )
    assert response.status_code == 403, (str(endpoint), response.status_code, response.text)
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize("endpoint", PROTECTED, ids=str)
async def test_anonymous_callers_get_401(endpoint: Endpoint, client: httpx.AsyncClient) -> None:
    call = build_call(application().openapi(), endpoint.path, endpoint.method, {})
    response = await client.request(endpoint.method, call.url, **call.kwargs())
    assert response.status_code == 401, (str(endpoint), response.status_code, response.text)
    bad = await client.request(
        endpoint.method, call.url, headers={"Authorization": "Bearer not-a-token"}, **call.kwargs()
    )
    assert bad.status_code == 401, (str(endpoint), bad.status_code)


# ---------------------------------------------------------------------------------------------------
# Every list endpoint, every demo account: only rows inside the caller's grants.

ACCOUNTS = {
    "admin@luohu.demo": [LUOHU],
    "staff@mumianling.demo": [f"{LUOHU}.s005.c001"],
    "grid@mumianling.demo": [f"{LUOHU}.s005.c001.g01"],
    "property@yuefeng.demo": [f"{LUOHU}.s005.c001.g01.e01"],
    "13800000001": [f"{LUOHU}.s005.c001.g01.e01"],
    "auditor@wuhou.demo": [WUHOU],
    "staff@nanhong.demo": [],  # filled from the database
}
LISTS = [e for e in PROTECTED if e.method == "GET" and not e.path_params]


def paths_in(value: Any) -> list[str]:
    """Every node path anywhere in a JSON document (fields named node_path or *_node_path)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and (k == "node_path" or k.endswith("_node_path")):
                found.append(v)
            else:
                found.extend(paths_in(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(paths_in(v))
    return found


@pytest.mark.parametrize("account", list(ACCOUNTS))
async def test_every_list_shows_only_rows_within_the_callers_grants(
    account: str, client: httpx.AsyncClient, login: Login
) -> None:
    roots = ACCOUNTS[account] or [node_by_name("南虹村社区")[1]]
    headers = await login(account)
    spec = application().openapi()
    checked = 0
    for endpoint in LISTS:
        call = build_call(spec, endpoint.path, "GET", {})
        response = await client.get(call.url, headers=headers, params=call.params | {"limit": 500})
        if response.status_code in (403, 422) or "json" not in response.headers.get("content-type", ""):
            continue
        assert response.status_code == 200, (account, str(endpoint), response.text)
        # Lists in an INHERITED_LISTS constant also show what was defined above the grants (and applies
        # there), never anything beside them.
        inherited = endpoint.path in declared_paths("INHERITED_LISTS")
        outside = [
            p for p in paths_in(response.json()) if not any(within(p, r) or (inherited and within(r, p)) for r in roots)
        ]
        assert not outside, (account, str(endpoint), outside[:5])
        checked += 1
    assert checked >= 1


async def test_grid_worker_sees_exactly_his_grid(client: httpx.AsyncClient, login: Login) -> None:
    """(d)"""
    grid = f"{LUOHU}.s005.c001.g01"
    with superuser() as conn:
        expected = {
            str(r[0])
            for r in conn.execute(
                "select node_path::text from nodes where node_path <@ %s::ltree and archived_at is null", (grid,)
            )
        }
    headers = await login("grid@mumianling.demo")
    seen = {n["node_path"] for n in await all_items(client, "/api/v1/nodes", headers)}
    assert seen == expected and len(expected) >= 3
    community = node_id(f"{LUOHU}.s005.c001")
    neighbour = node_id(f"{LUOHU}.s005.c001.g02")
    for other in (community, neighbour):
        assert (await client.get(f"/api/v1/nodes/{other}", headers=headers)).status_code == 404
    ancestors = (await client.get(f"/api/v1/nodes/{node_id(grid)}/ancestors", headers=headers)).json()["items"]
    assert [a["node_path"] for a in ancestors] == [grid]
    # He may not change his grid's tree.
    response = await client.post("/api/v1/nodes", json={"parent_id": node_id(grid), "name": "x"}, headers=headers)
    assert response.status_code == 403


async def test_resident_sees_only_his_own_records(client: httpx.AsyncClient, login: Login) -> None:
    """(e)"""
    estate = f"{LUOHU}.s005.c001.g01.e01"
    headers = await login("13800000001")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert me["phone"] == "13800000001"
    assert [(g["role"], g["node_path"]) for g in me["grants"]] == [("resident", estate)]
    nodes = await all_items(client, "/api/v1/nodes", headers)
    assert [n["node_path"] for n in nodes] == [estate]
    sibling = node_id(f"{LUOHU}.s005.c001.g01.e02")
    assert (await client.get(f"/api/v1/nodes/{sibling}", headers=headers)).status_code == 404
    for url in ("/api/v1/tenants", "/api/v1/users", "/api/v1/audit", "/api/v1/api-keys", "/api/v1/audit/export"):
        response = await client.get(url, headers=headers)
        assert response.status_code == 403, (url, response.text)
    response = await client.patch(f"/api/v1/nodes/{node_id(estate)}", json={"name": "mine"}, headers=headers)
    assert response.status_code == 403


# Mutations that stay possible in a suspended tenant: changing its status, and revoking access.
SUSPENSION_EXEMPT = {
    "PATCH /api/v1/tenants/{tenant_id}",
    "POST /api/v1/tenants/{tenant_id}/offboard",
    "POST /api/v1/api-keys/{key_id}/revoke",
    "DELETE /api/v1/grants/{grant_id}",
    "DELETE /api/v1/devices/{device_id}",  # revokes the device's token and MQTT client
}


@pytest.mark.parametrize("endpoint", [e for e in MUTATIONS if str(e) not in SUSPENSION_EXEMPT], ids=str)
async def test_no_mutation_succeeds_inside_a_suspended_tenant(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    """The street tenant 玉林街道 is suspended; a district administrator (who may do anything) calls
    every mutation with objects inside it. Nothing may succeed (call `access.assert_writable`)."""
    admin = await login("admin@wuhou.demo")
    yulin_street, yulin_path = node_by_name("玉林街道")
    nanhong, _ = node_by_name("南虹村社区")
    key = await client.post(
        "/api/v1/api-keys", json={"name": "k", "node_id": nanhong, "roles": ["integration"]}, headers=admin
    )
    with superuser() as conn:
        grant = conn.execute(
            "select g.id, g.user_id from role_grants g join users u on u.id = g.user_id "
            "where u.email = 'staff@nanhong.demo'"
        ).fetchone()
    assert grant is not None and key.status_code == 201
    ids: dict[str, Any] = {
        "node_id": nanhong,
        "parent_id": yulin_street,
        "new_parent_id": yulin_street,
        "tenant_id": tenant_id("nanhong"),
        "grant_id": grant[0],
        "user_id": str(grant[1]),
        "key_id": key.json()["id"],
    }
    objects = await nanhong_objects(db)
    for param in endpoint.path_params:
        if param not in ids:
            found = objects.get(param, wuhou_object_in(param, yulin_path, path=endpoint.path))
            assert found is not None, f"no object for {param} inside 玉林街道: add one to support.nanhong_objects"
            ids[param] = found
    suspended = await client.patch(f"/api/v1/tenants/{tenant_id('yulin')}", json={"status": "suspended"}, headers=admin)
    assert suspended.status_code == 200
    call = build_call(application().openapi(), endpoint.path, endpoint.method, ids)
    response = await client.request(endpoint.method, call.url, headers=admin, **call.kwargs())
    assert 400 <= response.status_code < 500, (str(endpoint), call.url, call.json, response.status_code, response.text)


def json_body_endpoints() -> list[Endpoint]:
    spec = application().openapi()
    out = []
    for e in endpoints():
        if is_public(e.path) and not e.path.startswith("/api/v1/auth/"):
            continue
        operation = spec.get("paths", {}).get(e.path, {}).get(e.method.lower(), {})
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            out.append(e)
    return out


@pytest.mark.parametrize("endpoint", json_body_endpoints(), ids=str)
async def test_request_bodies_reject_fields_the_caller_could_forge(
    endpoint: Endpoint, client: httpx.AsyncClient, login: Login
) -> None:
    """Tenant, path and role come from the URL and the principal: a body with extra fields is a 422."""
    ids = await wuhou_ids(client, login)
    for param in endpoint.path_params:
        if param not in ids and (found := wuhou_object_in(param, path=endpoint.path)) is not None:
            ids[param] = found
    call = build_call(application().openapi(), endpoint.path, endpoint.method, ids)
    assert isinstance(call.json, dict), str(endpoint)
    call.json |= {"node_path": LUOHU, "forged_by_test": True}
    response = await client.request(endpoint.method, call.url, headers=await login("admin@wuhou.demo"), **call.kwargs())
    assert response.status_code == 422, (str(endpoint), response.status_code, response.text)
    assert response.json()["error"]["code"] == "validation_error"


def test_every_declared_permission_names_a_resource_in_the_policy() -> None:
    """A typo in `require("device", "read")` would silently leave an endpoint to the wildcard admins."""
    from linli.platform.access import POLICY_DIR

    resources = {
        parts[2]
        for line in (POLICY_DIR / "permissions.csv").read_text(encoding="utf-8").splitlines()
        if (parts := [p.strip() for p in line.split(",")])[0] == "p" and len(parts) >= 4 and parts[2] != "*"
    }
    used = {perm for e in PROTECTED for perm in permissions(e.dependant)}
    unknown = sorted(f"{r}:{a}" for r, a in used if r not in resources)
    assert not unknown, f"not in policies/permissions.csv: {unknown}"
