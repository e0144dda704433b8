"""Passes end to end: a resident issues one, a gate verifies it offline with the cached key and
revocation list, records passages online until the uses run out; revoked, expired and altered passes are
refused; switched-off services too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.passes import keys, token
from linli.passes.repository import PassRepository
from tests.conftest import Login
from tests.residentapp.conftest import RESIDENT, resident_headers
from tests.tenants.support import node_by_name, tenant_id

APP = "/api/v1/app/mumianling/passes"
STAFF = "staff@mumianling.demo"
SPOUSE = "13800000002"  # 王芳, 李悦's household


def window(start_hours: float = -1, hours: float = 24) -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(hours=start_hours)
    return {"valid_from": start.isoformat(), "valid_until": (start + timedelta(hours=hours)).isoformat()}


async def issue(client: httpx.AsyncClient, headers: dict[str, str], uses: int = 1) -> dict[str, object]:
    body = {"service": "prop_visitor_pass", "kind": "visitor", "visitor_name": "王五", "plate": "川a12345"}
    created = await client.post(APP, json=body | window() | {"uses": uses}, headers=headers)
    assert created.status_code == 201, created.text
    result: dict[str, object] = created.json()
    return result


async def gate_cache(client: httpx.AsyncClient, staff: dict[str, str], node: int) -> tuple[Ed25519PublicKey, set[int]]:
    key = await client.get(f"/api/v1/passes/gate/{node}/key", headers=staff)
    revoked = await client.get(f"/api/v1/passes/gate/{node}/revocations", headers=staff)
    assert key.status_code == 200 and revoked.status_code == 200, key.text + revoked.text
    raw = token.unb64(key.json()["public_key"])
    assert raw is not None
    return Ed25519PublicKey.from_public_bytes(raw), set(revoked.json()["pass_ids"])


def offline(public_key: Ed25519PublicKey, revoked: set[int], scanned: str, at: datetime | None = None) -> str | None:
    claims = token.read(public_key, scanned)
    return token.refusal(claims, tenant_id=tenant_id("mumianling"), revoked=revoked, at=at or datetime.now(UTC))


def flipped(scanned: str, index: int) -> str:
    return scanned[:index] + chr(ord(scanned[index]) ^ 1) + scanned[index + 1 :]


async def test_a_pass_verifies_offline_and_passes_until_its_uses_run_out(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    gate, _ = node_by_name("木棉岭社区")
    issued = await issue(client, resident, uses=2)
    scanned = str(issued["token"])
    assert issued["plate"] == "川A12345" and issued["uses_left"] == 2
    public_key, revoked = await gate_cache(client, staff, gate)
    assert offline(public_key, revoked, scanned) is None
    # The private key is stored only sealed.
    stored = await db.scalar(
        text("select private_key_enc from pass_keys where tenant_id = :t"), {"t": issued["tenant_id"]}
    )
    assert stored is not None and len(stored) == keys.NONCE_BYTES + 32 + 16

    for left in (1, 0):
        passage = await client.post(
            "/api/v1/passes/gate/passages", json={"node_id": gate, "token": scanned, "gate": "东门"}, headers=staff
        )
        assert passage.status_code == 201, passage.text
        assert passage.json()["uses_left"] == left
    again = await client.post("/api/v1/passes/gate/passages", json={"node_id": gate, "token": scanned}, headers=staff)
    assert again.status_code == 400 and again.json()["error"]["code"] == "pass_used_up"
    _, revoked = await gate_cache(client, staff, gate)
    assert issued["id"] in revoked and offline(public_key, revoked, scanned) == "revoked"
    audited = await db.scalar(
        text("select count(*) from audit_log where object_type = 'pass' and object_id = :id"), {"id": str(issued["id"])}
    )
    assert audited == 3  # issued, two passages
    mine = (await client.get(APP, headers=resident)).json()["items"]
    assert mine[0]["id"] == issued["id"] and mine[0]["token"] == scanned


async def test_revoked_expired_and_altered_passes_are_refused(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    gate, _ = node_by_name("木棉岭社区")
    kept, by_resident, by_staff = (
        await issue(client, resident),
        await issue(client, resident),
        await issue(client, resident),
    )
    mine = await client.post(f"{APP}/{by_resident['id']}/revoke", headers=resident)
    assert mine.status_code == 200 and mine.json()["revoked_at"] is not None
    theirs = await client.post(f"/api/v1/passes/{by_staff['id']}/revoke", headers=staff)
    assert theirs.status_code == 200
    twice = await client.post(f"/api/v1/passes/{by_staff['id']}/revoke", headers=staff)
    assert twice.status_code == 409
    public_key, revoked = await gate_cache(client, staff, gate)
    for row in (by_resident, by_staff):
        assert offline(public_key, revoked, str(row["token"])) == "revoked"
        check = await client.post(
            "/api/v1/passes/gate/check", json={"node_id": gate, "token": row["token"]}, headers=staff
        )
        assert check.json()["ok"] is False and check.json()["reason"] == "revoked"

    scanned = str(kept["token"])
    # Expired: the gate's clock past the window (offline), and a pass signed for a window gone by (online).
    assert offline(public_key, revoked, scanned, at=datetime.now(UTC) + timedelta(days=2)) == "expired"
    row = await PassRepository(db).get(int(str(kept["id"])))
    assert row is not None
    key = await keys.tenant_key(db, tenant_id=row.tenant_id, tenant_path=node_by_name("木棉岭社区")[1])
    past = datetime.now(UTC) - timedelta(days=3)
    stale = token.sign(
        keys.private_key(key),
        token.PassClaims(
            pass_id=row.id, tenant_id=row.tenant_id, valid_from=past, valid_until=past + timedelta(days=1), uses=1
        ),
    )
    assert offline(public_key, revoked, stale) == "expired"
    expired = await client.post("/api/v1/passes/gate/passages", json={"node_id": gate, "token": stale}, headers=staff)
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "pass_expired"

    # One flipped byte anywhere (prefix, payload, signature, its last character) is refused.
    for index in (1, 6, len(scanned) // 2, len(scanned) - 10, len(scanned) - 1):
        altered = flipped(scanned, index)
        assert offline(public_key, revoked, altered) == "bad_signature", index
        check = await client.post("/api/v1/passes/gate/check", json={"node_id": gate, "token": altered}, headers=staff)
        assert check.status_code == 200 and check.json()["ok"] is False
    good = await client.post("/api/v1/passes/gate/check", json={"node_id": gate, "token": scanned}, headers=staff)
    assert good.json()["ok"] is True and good.json()["pass"]["id"] == kept["id"]


async def test_residents_revoke_only_their_own_and_switched_off_services_are_refused(
    client: httpx.AsyncClient, login: Login
) -> None:
    resident, staff = await login(RESIDENT), await login(STAFF)
    issued = await issue(client, resident)
    neighbour = await issue(client, await resident_headers(client, "mumianling", SPOUSE))
    other = await client.post(f"/api/v1/passes/{neighbour['id']}/revoke", headers=resident)
    assert other.status_code == 404
    listed = (await client.get("/api/v1/passes", headers=resident)).json()["items"]
    assert issued["id"] in {p["id"] for p in listed} and neighbour["id"] not in {p["id"] for p in listed}
    own = await client.post(f"/api/v1/passes/{issued['id']}/revoke", headers=resident)
    assert own.status_code == 200
    bad = await client.post(APP, json={"service": "prop_visitor_pass", "kind": "visitor"} | window(), headers=resident)
    assert bad.status_code == 409 and bad.json()["error"]["code"] == "visitor_name_required"
    tid = tenant_id("mumianling")
    off = await client.patch(
        f"/api/v1/tenants/{tid}/services/prop_visitor_pass", json={"enabled": False}, headers=staff
    )
    assert off.status_code == 200
    refused = await client.post(
        APP,
        json={"service": "prop_visitor_pass", "kind": "visitor", "visitor_name": "王五"} | window(),
        headers=resident,
    )
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "service_disabled"


async def test_a_resident_reads_their_pass_and_its_qr_code_but_not_a_neighbours(
    client: httpx.AsyncClient, login: Login
) -> None:
    resident = await login(RESIDENT)
    issued = await issue(client, resident)
    neighbour = await issue(client, await resident_headers(client, "mumianling", SPOUSE))
    read = await client.get(f"{APP}/{issued['id']}", headers=resident)
    assert read.status_code == 200 and read.json()["token"] == issued["token"]
    qr = await client.get(f"{APP}/{issued['id']}/qr.svg", headers=resident)
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in qr.text and f"#{issued['id']}" in qr.text
    for path in (f"{APP}/{neighbour['id']}", f"{APP}/{neighbour['id']}/qr.svg"):
        assert (await client.get(path, headers=resident)).status_code == 404
    assert (await client.get(f"{APP}/{issued['id']}/qr.svg")).status_code == 401
    staff = await login(STAFF)  # staff looking at the app see the pass, not its payload; the gate's draw it
    seen = await client.get(f"{APP}/{issued['id']}", headers=staff)
    assert seen.status_code == 200 and seen.json()["token"] is None
    assert (await client.get(f"{APP}/{issued['id']}/qr.svg", headers=staff)).status_code == 200
