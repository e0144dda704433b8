"""Staff send commands to actuators from the console: only those the device's type declares, with
exactly their arguments, published after the commit, audited."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.iot import commands
from linli.iot.commands import PendingCommand
from tests.conftest import Login
from tests.tenants.support import MUMIANLING_ESTATE, scalar, system_scope


def device_of(type_code: str) -> int:
    """A seeded simulator device of the type at 悦峰尚府 (木棉岭)."""
    return int(
        scalar(
            "select id from devices where type_code = %s and node_path = %s::ltree order by id limit 1",
            type_code,
            MUMIANLING_ESTATE,
        )
    )


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[PendingCommand]:
    """What the command machinery hands the broker after the commit (no broker in these tests)."""
    sent: list[PendingCommand] = []

    async def dispatch(pending: list[PendingCommand]) -> None:
        sent.extend(pending)

    monkeypatch.setattr(commands, "dispatch_commands", dispatch)
    return sent


async def send(client: httpx.AsyncClient, headers: dict[str, str], device: int, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/devices/{device}/commands", json=body, headers=headers)


async def test_staff_switch_a_fan_on(
    client: httpx.AsyncClient, login: Login, published: list[PendingCommand], db: AsyncSession
) -> None:
    fan = device_of("exhaust_fan")
    staff = await login("staff@mumianling.demo")
    response = await send(client, staff, fan, command="set_power", args={"on": True})
    assert response.status_code == 201, response.text
    command = response.json()
    assert (command["device_id"], command["command"], command["args"]) == (fan, "set_power", {"on": True})
    assert command["status"] == "pending" and command["alarm_id"] is None
    [pending] = published
    assert pending.id == command["id"] and pending.topic.endswith("/commands") and pending.deadline_s == 30
    assert orjson.loads(pending.payload) == {"command_id": command["id"], "command": "set_power", "args": {"on": True}}
    listed = (await client.get(f"/api/v1/devices/{fan}/commands", headers=staff)).json()["items"]
    assert listed[0]["id"] == command["id"]
    async with system_scope(db) as session:
        entry = (
            await session.execute(
                text("select actor_role, after from audit_log where action = 'command.send' and object_id = :id"),
                {"id": str(command["id"])},
            )
        ).one()
    assert entry.actor_role == "community_staff" and entry.after["command"] == "set_power"
    # The estate's property manager may send commands too.
    off = await send(client, await login("property@yuefeng.demo"), fan, command="set_power", args={"on": False})
    assert off.status_code == 201, off.text


@pytest.mark.parametrize(
    ("type_code", "body", "code"),
    [
        ("smoke_detector", {"command": "set_power", "args": {"on": True}}, "unknown_command"),
        ("exhaust_fan", {"command": "run_cycle", "args": {"minutes": 5}}, "unknown_command"),
        ("exhaust_fan", {"command": "set_power", "args": {}}, "bad_command_args"),
        ("exhaust_fan", {"command": "set_power", "args": {"on": 1}}, "bad_command_args"),
        ("exhaust_fan", {"command": "set_power", "args": {"on": True, "speed": 3}}, "bad_command_args"),
        ("disinfection_unit", {"command": "run_cycle", "args": {"minutes": True}}, "bad_command_args"),
    ],
)
async def test_only_declared_commands_with_their_arguments(
    type_code: str, body: dict[str, Any], code: str, client: httpx.AsyncClient, login: Login, published: list[Any]
) -> None:
    response = await send(client, await login("staff@mumianling.demo"), device_of(type_code), **body)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.text
    assert published == []


async def test_revoked_foreign_and_unpermitted(
    client: httpx.AsyncClient, login: Login, published: list[Any], db: AsyncSession
) -> None:
    fan = device_of("exhaust_fan")
    body = {"command": "set_power", "args": {"on": True}}
    staff = await login("staff@mumianling.demo")
    wuhou = await send(client, await login("admin@wuhou.demo"), fan, **body)
    assert wuhou.status_code == 404 and wuhou.json()["error"]["code"] == "not_found"
    grid = await send(client, await login("grid@mumianling.demo"), fan, **body)
    assert grid.status_code == 403
    async with system_scope(db) as session:
        revoke = text("update devices set revoked_at = now(), status = 'revoked' where id = :id")
        await session.execute(revoke, {"id": fan})
    revoked = await send(client, staff, fan, **body)
    assert revoked.status_code == 409 and revoked.json()["error"]["code"] == "device_revoked"
    assert published == []
