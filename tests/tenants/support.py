"""Helpers shared by the access, tenant and audit suites: superuser look-ups of committed demo data and
paging through list endpoints."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from linli.demo import DEMO_PASSWORD
from linli.platform.db import SYSTEM_SCOPE, apply_scopes
from linli.platform.security import sha256_hex
from tests.conftest import PG, TEST_DB

WUHOU = "d510107"
LUOHU = "d440303"


def superuser() -> psycopg.Connection[Any]:
    """A committed, RLS-free view of the test database (postgres superuser, autocommit)."""
    return psycopg.connect(f"postgresql://postgres@{PG}/{TEST_DB}", autocommit=True)


def api_role_dsn() -> str:
    return os.environ["LINLI_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


def scalar(sql: str, *params: object) -> Any:
    with superuser() as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def node_id(path: str) -> int:
    return int(scalar("select id from nodes where node_path = %s::ltree", path))


def node_by_name(name: str) -> tuple[int, str]:
    with superuser() as conn:
        row = conn.execute(
            "select id, node_path::text from nodes where name = %s order by id limit 1", (name,)
        ).fetchone()
    assert row is not None, name
    return int(row[0]), str(row[1])


def tenant_id(slug: str) -> int:
    return int(scalar("select id from tenants where slug = %s", slug))


def not_onboarded_community(district: str, *, skip: int = 0) -> tuple[int, str]:
    """A community of `district` that is not a tenant and lies in no tenant (a plain node)."""
    with superuser() as conn:
        rows = conn.execute(
            """select n.id, n.node_path::text from nodes n
               where n.level = 'community' and n.node_path <@ %s::ltree and n.archived_at is null
                 and not exists (select 1 from tenants t where n.node_path <@ t.node_path)
               order by n.id""",
            (district,),
        ).fetchall()
    return int(rows[skip][0]), str(rows[skip][1])


async def all_items(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: object
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 500, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get(url, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}, page
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


def within(path: str, root: str) -> bool:
    return path == root or path.startswith(root + ".")


# Access tokens are stateless (the principal is loaded from the database on every request), so one
# real sign-in per account serves the whole run: argon2id costs about 0.7 s per verification here.
_TOKENS: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
# Re-sign in well before the access token expires (a long full-project run must not use stale tokens).
TOKEN_REUSE_S = 5 * 60


class CachedLogin:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, login: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        key = (login, password)
        cached = _TOKENS.get(key)
        if cached is None or time.monotonic() - cached[0] > TOKEN_REUSE_S:
            response = await self.client.post("/api/v1/auth/token", data={"username": login, "password": password})
            assert response.status_code == 200, response.text
            cached = (time.monotonic(), {"Authorization": f"Bearer {response.json()['access_token']}"})
            _TOKENS[key] = cached
        return cached[1]


@pytest.fixture(name="login")
def cached_login(client: httpx.AsyncClient) -> CachedLogin:
    return CachedLogin(client)


@asynccontextmanager
async def system_scope(db: AsyncSession) -> AsyncIterator[AsyncSession]:
    """Read what the test's uncommitted requests wrote, across every scope; afterwards the shared test
    session holds no scope again (so the next anonymous request sees nothing, as in production)."""
    await apply_scopes(db, SYSTEM_SCOPE)
    try:
        yield db
    finally:
        await apply_scopes(db, ())


NANHONG_ESTATE = "林荫街9号院"  # in 南虹村社区, inside 玉林街道 and Wuhou
MUMIANLING_ESTATE = f"{LUOHU}.s005.c001.g01.e01"  # in 木棉岭社区, Luohu


async def nanhong_objects(db: Any) -> dict[str, Any]:
    estate = scalar("select node_path::text from nodes where name = %s and level = 'estate'", NANHONG_ESTATE)
    return await objects_at(db, estate)


async def objects_at(db: Any, estate: str) -> dict[str, Any]:
    """One object of every kind a route names by id, created at the estate with path `estate` in the
    test's own transaction: generated checks then run against real objects. A route that names a kind
    missing here fails the check that needs it; add the kind here."""
    from sqlalchemy import text

    from linli.events import intake, routing
    from linli.events.storage import get_storage

    await apply_scopes(db, SYSTEM_SCOPE)
    estate_row = (
        await db.execute(text("select id, node_path::text from nodes where node_path = text2ltree(:e)"), {"e": estate})
    ).one()
    tenant_row = (
        await db.execute(
            text(
                "select id, slug from tenants where node_path @> text2ltree(:p) order by nlevel(node_path) desc limit 1"
            ),
            {"p": estate_row.node_path},
        )
    ).one()
    place = {"t": tenant_row.id, "n": estate_row.id, "p": estate_row.node_path}
    serial = f"MATRIX-{tenant_row.slug}"
    device = (
        await db.execute(
            text(
                "insert into devices (tenant_id, node_id, node_path, type_code, serial, location, token_hash, "
                "mqtt_username) values (:t, :n, text2ltree(:p), 'smoke_detector', :s, '{}', "
                ":h, :u) returning id"
            ),
            place | {"s": serial, "h": sha256_hex(serial), "u": f"{tenant_row.slug}.{serial}"},
        )
    ).scalar_one()
    device_type = (
        await db.execute(
            text(
                "insert into tenant_device_types (tenant_id, node_id, node_path, code, name, name_en, interval_s, "
                "spec) values (:t, :n, text2ltree(:p), 'matrix_meter', '矩阵表', 'Matrix meter', 60, "
                "cast(:spec as jsonb)) returning id"
            ),
            place
            | {
                "spec": '{"code": "matrix_meter", "name": {"zh": "矩阵表", "en": "Matrix meter"}, "interval_s": 60, '
                '"metrics": [{"code": "kwh", "kind": "counter"}]}',
            },
        )
    ).scalar_one()
    alarm = (
        await db.execute(
            text(
                "insert into alarms (tenant_id, device_id, node_id, node_path, rule_code, kind, severity, opened_at) "
                "values (:t, :d, :n, text2ltree(:p), 'battery_low', 'threshold', 'low', now()) returning id"
            ),
            place | {"d": device},
        )
    ).scalar_one()
    command = (
        await db.execute(
            text(
                "insert into commands (tenant_id, device_id, node_path, alarm_id, command, ack_deadline) "
                "values (:t, :d, text2ltree(:p), :a, 'silence', now() + interval '1 minute') returning id"
            ),
            place | {"d": device, "a": alarm},
        )
    ).scalar_one()
    unit = await routing.create_unit(
        db, actor=None, node_id=estate_row.id, kind="maintenance", name="matrix unit", contact={}
    )
    rule = await routing.create_rule(
        db, actor=None, node_id=estate_row.id, item="ph_repair_request", line=None, handler_unit_id=unit.id, priority=0
    )
    event, _ = await intake.create_event(
        db,
        actor=None,
        actor_label="matrix",
        intake=intake.Intake(
            item_code="ph_repair_request", node_id=estate_row.id, source="resident_report", location={"room": "matrix"}
        ),
    )
    webhook = (
        await db.execute(
            text(
                "insert into webhook_endpoints (node_id, node_path, url, secret) values (:n, text2ltree(:p), "
                "'http://127.0.0.1:9/matrix', 'matrix') returning id"
            ),
            place,
        )
    ).scalar_one()
    photo, key = b"\x89PNG\r\n\x1a\nmatrix", f"events/{event.id}/matrix.png"
    await get_storage().put(key, photo, "image/png")
    attachment = (
        await db.execute(
            text(
                "insert into event_attachments (event_id, node_path, storage_key, filename, content_type, "
                "size_bytes, sha256) values (:e, text2ltree(:p), :k, 'm.png', 'image/png', :n, repeat('b', 64)) "
                "returning id"
            ),
            place | {"e": event.id, "k": key, "n": len(photo)},
        )
    ).scalar_one()
    # An in-app notification for someone granted in this tenant.
    notification = (
        await db.execute(
            text(
                "insert into notifications (node_path, recipient_id, channel, event_id, kind, title) "
                "select text2ltree(:p), g.user_id, 'in_app', :e, 'matrix', 'matrix' from role_grants g "
                "where g.node_path @> text2ltree(:p) order by g.id limit 1 returning id"
            ),
            place | {"e": event.id},
        )
    ).scalar_one()
    # The resident app: a published notice with an image, a form case with a photo, a request to join.
    notice = (
        await db.execute(
            text(
                "insert into notices (tenant_id, node_id, node_path, service_code, title, body_md, status, "
                "published_at) values (:t, :n, text2ltree(:p), 'com_announcements', 'matrix', 'matrix', "
                "'published', now()) returning id"
            ),
            place,
        )
    ).scalar_one()
    case = (
        await db.execute(
            text(
                "insert into form_cases (tenant_id, node_id, node_path, service_code, applicant_id, values, fields) "
                "select :t, :n, text2ltree(:p), 'gov_certificate', g.user_id, '{}', '[]' from role_grants g "
                "where g.node_path @> text2ltree(:p) order by g.id limit 1 returning id"
            ),
            place,
        )
    ).scalar_one()
    app_files = {}
    for owner, column in ((notice, "notice_id"), (case, "case_id")):
        file_key = f"app/{tenant_row.id}/matrix-{column}.png"
        await get_storage().put(file_key, photo, "image/png")
        app_files[column] = (
            await db.execute(
                text(
                    f"insert into app_files (tenant_id, node_path, {column}, uploaded_by, storage_key, filename, "
                    "content_type, size_bytes, sha256) values (:t, text2ltree(:p), :o, gen_random_uuid(), :k, "
                    "'m.png', 'image/png', :s, repeat('c', 64)) returning id"
                ),
                place | {"o": owner, "k": file_key, "s": len(photo)},
            )
        ).scalar_one()
    join_request = (
        await db.execute(
            text(
                "insert into join_requests (tenant_id, node_id, node_path, phone, name) "
                "values (:t, :n, text2ltree(:p), '13900000001', 'matrix') returning id"
            ),
            place,
        )
    ).scalar_one()
    ledger_import = (
        await db.execute(
            text(
                "insert into ledger_imports (id, node_id, node_path, filename, dry_run, status) "
                "values (gen_random_uuid(), :n, text2ltree(:p), 'matrix.xlsx', true, 'done') returning id"
            ),
            place,
        )
    ).scalar_one()
    # Care: a cared-for person of the estate watched by the device, with a visit.
    cared = (
        await db.execute(
            text(
                "with h as (insert into households (node_id, node_path, room) values (:n, text2ltree(:p), 'matrix') "
                "returning id) insert into people (household_id, node_path, name, care_categories) "
                "select h.id, text2ltree(:p), '矩阵', '{elderly_alone}' from h returning id"
            ),
            place,
        )
    ).scalar_one()
    grid_worker = (await db.execute(text("select id from users where email = 'grid@mumianling.demo'"))).scalar_one()
    plan = (
        await db.execute(
            text(
                "insert into patrol_plans (node_id, node_path, name, assignee_id, schedule, window_minutes) "
                "values (:n, text2ltree(:p), 'matrix', :u, '{\"hours\": [8]}', 60) returning id"
            ),
            place | {"u": grid_worker},
        )
    ).scalar_one()
    checkpoint = (
        await db.execute(
            text(
                "insert into patrol_checkpoints (plan_id, position, node_id, node_path, name, code) "
                "values (:plan, 1, :n, text2ltree(:p), 'matrix', md5(random()::text)::varchar(16)) returning id"
            ),
            place | {"plan": plan},
        )
    ).scalar_one()
    patrol_round = (
        await db.execute(
            text(
                "insert into patrol_rounds (plan_id, node_path, assignee_id, due_at, deadline_at) "
                "values (:plan, text2ltree(:p), :u, now(), now() + interval '1 hour') returning id"
            ),
            place | {"plan": plan, "u": grid_worker},
        )
    ).scalar_one()
    sensor = (
        await db.execute(
            text(
                "insert into care_sensors (person_id, device_id, node_path, role) "
                "values (:c, :d, text2ltree(:p), 'presence') returning id"
            ),
            place | {"c": cared, "d": device},
        )
    ).scalar_one()
    visit = (
        await db.execute(
            text(
                "insert into care_visits (person_id, node_path, due_on, status, visited_at, note, photo_key, "
                "photo_content_type) values (:c, text2ltree(:p), current_date, 'done', now(), 'matrix', :k, "
                "'image/png') returning id"
            ),
            place | {"c": cared, "k": f"care/matrix-{tenant_row.id}.png"},
        )
    ).scalar_one()
    await get_storage().put(f"care/matrix-{tenant_row.id}.png", photo, "image/png")
    # Community life: a pass, an open vote, a shared item and a request to borrow it.
    someone = "select g.user_id from role_grants g where g.node_path @> text2ltree(:p) order by g.id limit 1"
    life = {}
    for name, statement in (
        (
            "pass_id",
            "insert into passes (tenant_id, node_id, node_path, service_code, kind, issued_by, visitor_name, "
            "valid_from, valid_until, uses_allowed, uses_left) select :t, :n, text2ltree(:p), 'prop_visitor_pass', "
            f"'visitor', ({someone}), 'matrix', now(), now() + interval '1 day', 1, 1 returning id",
        ),
        (
            "vote_id",
            "insert into votes (tenant_id, node_id, node_path, service_code, title, options, ballot_per, anonymous, "
            "opens_at, closes_at) values (:t, :n, text2ltree(:p), 'com_survey', 'matrix', '[\"a\", \"b\"]', "
            "'household', false, now(), now() + interval '1 day') returning id",
        ),
        (
            "item_id",
            "insert into share_items (tenant_id, node_id, node_path, service_code, kind, title, owner_id) "
            f"select :t, :n, text2ltree(:p), 'prop_tool_box', 'offer', 'matrix', ({someone}) returning id",
        ),
    ):
        life[name] = (await db.execute(text(statement), place)).scalar_one()
    life["loan_id"] = (
        await db.execute(
            text(
                "insert into share_loans (item_id, node_path, borrower_id) "
                f"select :i, text2ltree(:p), ({someone}) returning id"
            ),
            place | {"i": life["item_id"]},
        )
    ).scalar_one()
    # Community life: an activity with a resident's sign-up, a resource with a booking, a reward.
    resident = (
        await db.execute(
            text("select g.user_id from role_grants g where g.node_path @> text2ltree(:p) order by g.id limit 1"),
            place,
        )
    ).scalar_one()
    activity = (
        await db.execute(
            text(
                "insert into activities (tenant_id, node_id, node_path, service_code, title, starts_at, ends_at, "
                "signup_deadline, capacity) values (:t, :n, text2ltree(:p), 'com_activities', 'matrix', "
                "now() + interval '2 days', now() + interval '3 days', now() + interval '1 day', 5) returning id"
            ),
            place,
        )
    ).scalar_one()
    await db.execute(
        text(
            "insert into activity_signups (activity_id, node_path, user_id, status, position) "
            "values (:a, text2ltree(:p), :u, 'confirmed', 1)"
        ),
        place | {"a": activity, "u": resident},
    )
    resource = (
        await db.execute(
            text(
                "insert into resources (tenant_id, node_id, node_path, service_code, name, kind, opens, closes, "
                "slot_minutes) values (:t, :n, text2ltree(:p), 'com_space_booking', 'matrix', 'room', '08:00', "
                "'20:00', 60) returning id"
            ),
            place,
        )
    ).scalar_one()
    booking = (
        await db.execute(
            text(
                "insert into bookings (resource_id, node_path, user_id, starts_at, ends_at) values (:r, "
                "text2ltree(:p), :u, now() + interval '5 days', now() + interval '5 days 1 hour') returning id"
            ),
            place | {"r": resource, "u": resident},
        )
    ).scalar_one()
    reward = (
        await db.execute(
            text(
                "insert into points_rewards (tenant_id, node_path, name, cost) values (:t, text2ltree(:p), "
                "'matrix', 1) returning id"
            ),
            place,
        )
    ).scalar_one()
    await db.execute(
        text(
            "insert into points_accounts (tenant_id, node_path, kind, user_id) values (:t, text2ltree(:p), "
            "'resident', :u) on conflict do nothing"
        ),
        place | {"u": resident},
    )
    # The session leaves with no scope, as a request would find it.
    await apply_scopes(db, ())
    return {
        "activity_id": activity,
        "resource_id": resource,
        "booking_id": booking,
        "reward_id": reward,
        "user_id": str(resident),
        "signup_service": "com_activities",
        "booking_service": "com_space_booking",
        "points_service": "com_points_mall",
        "device_id": device,
        "device_type_id": device_type,
        "alarm_id": alarm,
        "command_id": command,
        "unit_id": unit.id,
        "rule_id": rule.id,
        "event_id": str(event.id),
        "attachment_id": str(attachment),
        "webhook_id": webhook,
        "notification_id": notification,
        "code": "prop_fees",
        "slug": tenant_row.slug,
        "notice_id": notice,
        "image_id": str(app_files["notice_id"]),
        "case_id": case,
        "file_id": str(app_files["case_id"]),
        "request_id": join_request,
        "service": "gov_certificate",
        "import_id": str(ledger_import),
        "plan_id": plan,
        "checkpoint_id": checkpoint,
        "round_id": patrol_round,
        "person_id": cared,
        "sensor_id": sensor,
        "visit_id": visit,
        **life,
    }


async def person(db: AsyncSession, login: str, password: str, grants: list[tuple[str, str]]) -> str:
    """An account (created, or an existing one given `password`) holding `grants` (role, node path),
    written in the test's own transaction; sign in with `login` and `password` afterwards. Its id."""
    from linli.platform.hierarchy.repository import NodeRepository
    from linli.tenants import service as tenants
    from linli.tenants.grants import grant_role
    from linli.tenants.repository import UserRepository

    await apply_scopes(db, SYSTEM_SCOPE)
    # The API role never writes a stored password: a new account gets it on insert, an existing one
    # without a password redeems a reset token as its owner would.
    user = await tenants.ensure_user(db, email=login, display_name=login.split("@")[0], password=password)
    if not user.has_password:
        token, _ = await tenants.create_user_token(UserRepository(db), user, "reset")
        await db.flush()
        await tenants.use_user_token(db, token=token, purpose="reset", password=password)
    for role, path in grants:
        node = await NodeRepository(db).get_by_path(path)
        assert node is not None, path
        await grant_role(db, actor=None, user=user, role=role, node=node)
    await db.flush()
    await apply_scopes(db, ())
    return str(user.id)
