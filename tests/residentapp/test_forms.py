"""Forms: definitions per service, per-field validation on the server, identity numbers encrypted and
masked, cases that staff review and residents amend, the event item's routing and deadlines."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from linli.residents.schemas import id_check_character
from tests.conftest import Login
from tests.photos import has_gps, jpeg_with_gps
from tests.residentapp.conftest import NANHONG_RESIDENT, RESIDENT, resident_headers
from tests.tenants.support import system_scope, tenant_id

APP = "/api/v1/app/mumianling"
FIRST17 = "51010719850307123"
ID_NUMBER = FIRST17 + id_check_character(FIRST17)
WRONG_CHECK = FIRST17 + ("0" if id_check_character(FIRST17) != "0" else "1")


async def test_a_certificate_is_submitted_sent_back_amended_and_approved(
    client: httpx.AsyncClient, login: Login, db: AsyncSession
) -> None:
    resident, staff = await login(RESIDENT), await login("staff@mumianling.demo")
    form = (await client.get(f"{APP}/forms/gov_certificate", headers=resident)).json()
    assert form["item_code"] == "ps_certificate" and form["custom"] is False
    assert [f["name"] for f in form["fields"]][:3] == ["certificate_type", "applicant_name", "id_number"]

    bad = await client.post(
        f"{APP}/forms/gov_certificate/cases",
        json={"values": {"certificate_type": "passport", "id_number": WRONG_CHECK, "copies": 9, "extra": "x"}},
        headers=resident,
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_form_values"
    problems = {(d["field"], d["code"]) for d in bad.json()["error"]["details"]}
    assert problems == {
        ("extra", "unknown_field"),
        ("certificate_type", "not_an_option"),
        ("applicant_name", "required"),
        ("id_number", "invalid_id_number"),
        ("purpose", "required"),
        ("copies", "too_large"),
    }

    photo = await client.post(
        f"{APP}/forms/gov_certificate/photos",
        files={"file": ("id.jpg", jpeg_with_gps(), "image/jpeg")},
        headers=resident,
    )
    assert photo.status_code == 201, photo.text
    values = {
        "certificate_type": "residence",
        "applicant_name": "李悦",
        "id_number": ID_NUMBER,
        "purpose": "子女入学",
        "copies": 1,
        "id_photo": [photo.json()["id"]],
    }
    submitted = await client.post(f"{APP}/forms/gov_certificate/cases", json={"values": values}, headers=resident)
    assert submitted.status_code == 201, submitted.text
    case = submitted.json()
    assert case["status"] == "submitted" and case["masked"] is True
    assert case["values"]["id_number"] == ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:]
    assert case["deadlines"]["accept_minutes"] == 240 and case["deadlines"]["resolve_by"] is not None
    assert ID_NUMBER not in submitted.text
    async with system_scope(db):
        stored = (await db.execute(text("select values from form_cases where id = :i"), {"i": case["id"]})).scalar_one()
        event = (
            await db.execute(
                text("select item_code, status, handler_kind from events where id = :e"), {"e": case["event_id"]}
            )
        ).one()
    assert ID_NUMBER not in json.dumps(stored) and stored["id_number"]["encrypted"]
    assert (
        event.item_code == "ps_certificate" and event.status == "dispatched" and event.handler_kind == "community_staff"
    )

    # Staff see the number in full and the photo without its metadata; a resident elsewhere sees nothing.
    seen = (await client.get(f"/api/v1/form-cases/{case['id']}", headers=staff)).json()
    assert seen["values"]["id_number"] == ID_NUMBER and seen["masked"] is False
    image = await client.get(f"/api/v1/form-cases/{case['id']}/photos/{photo.json()['id']}", headers=staff)
    assert image.status_code == 200 and not has_gps(image.content)
    neighbour = await login(NANHONG_RESIDENT)
    assert (await client.get(f"/api/v1/form-cases/{case['id']}", headers=neighbour)).status_code == 404

    more = await client.post(
        f"/api/v1/form-cases/{case['id']}/review", json={"decision": "more_info", "note": "请上传户口本"}, headers=staff
    )
    assert more.status_code == 200 and more.json()["status"] == "more_info"
    no_reason = await client.post(f"/api/v1/form-cases/{case['id']}/review", json={"decision": "reject"}, headers=staff)
    assert no_reason.status_code == 422
    amended = await client.put(
        f"{APP}/cases/{case['id']}", json={"values": values | {"purpose": "子女入学（附户口本）"}}, headers=resident
    )
    assert amended.status_code == 200 and amended.json()["status"] == "submitted", amended.text
    approved = await client.post(f"/api/v1/form-cases/{case['id']}/review", json={"decision": "approve"}, headers=staff)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    mine = (await client.get(f"{APP}/cases/{case['id']}", headers=resident)).json()
    assert mine["status"] == "approved"
    assert [s["action"] for s in mine["timeline"]] == ["submitted", "more_info", "amended", "approve"]
    inbox = (await client.get(f"{APP}/notifications", headers=resident)).json()["items"]
    assert {n["case_id"] for n in inbox} >= {case["id"]}
    async with system_scope(db):
        status = (
            await db.execute(text("select status from events where id = :e"), {"e": case["event_id"]})
        ).scalar_one()
    assert status == "resolved"
    late = await client.put(f"{APP}/cases/{case['id']}", json={"values": values}, headers=resident)
    assert late.status_code == 409 and late.json()["error"]["code"] == "case_not_amendable"


async def test_photos_are_ones_own_and_forms_only_of_form_services(client: httpx.AsyncClient, login: Login) -> None:
    resident, staff = await login(RESIDENT), await login("staff@mumianling.demo")
    wife = await resident_headers(client, "mumianling", "13800000002")
    someone_else = await client.post(
        f"{APP}/forms/eld_allowance/photos", files={"file": ("id.jpg", jpeg_with_gps(), "image/jpeg")}, headers=wife
    )
    assert someone_else.status_code == 201
    values = {
        "elder_name": "张秀英",
        "elder_id_number": ID_NUMBER,
        "birth_date": "1942-13-01",
        "applicant_relation": "child",
        "id_photo": [someone_else.json()["id"]],
    }
    bad = await client.post(f"{APP}/forms/eld_allowance/cases", json={"values": values}, headers=resident)
    assert {(d["field"], d["code"]) for d in bad.json()["error"]["details"]} == {
        ("birth_date", "not_a_date"),
        ("id_photo", "unknown_photo"),
    }
    wrong_kind = await client.get(f"{APP}/forms/prop_fees", headers=resident)
    assert wrong_kind.status_code == 409 and wrong_kind.json()["error"]["code"] == "wrong_service_kind"
    tid = tenant_id("mumianling")
    await client.patch(f"/api/v1/tenants/{tid}/services/gov_certificate", json={"enabled": False}, headers=staff)
    off = await client.get(f"{APP}/forms/gov_certificate", headers=resident)
    assert off.status_code == 404 and off.json()["error"]["code"] == "service_disabled"


async def test_a_tenant_defines_its_own_form(client: httpx.AsyncClient, login: Login) -> None:
    admin, resident = await login("admin@luohu.demo"), await login(RESIDENT)
    tid = tenant_id("mumianling")
    fields = [
        {
            "name": "pet",
            "kind": "choice",
            "label": {"zh": "宠物", "en": "Pet"},
            "options": [
                {"value": "dog", "label": {"zh": "狗", "en": "Dog"}},
                {"value": "cat", "label": {"zh": "猫", "en": "Cat"}},
            ],
        },
        {"name": "vaccinated_on", "kind": "date", "label": {"zh": "接种日期", "en": "Vaccinated on"}},
    ]
    broken = await client.put(
        f"/api/v1/tenants/{tid}/forms/eld_family_bed",
        json={"fields": [fields[1], fields[1], {"name": "x", "kind": "choice", "label": {"zh": "x", "en": "x"}}]},
        headers=admin,
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_form_definition"
    put = await client.put(f"/api/v1/tenants/{tid}/forms/eld_family_bed", json={"fields": fields}, headers=admin)
    assert put.status_code == 200 and put.json()["custom"] is True and put.json()["version"] == 1
    form = (await client.get(f"{APP}/forms/eld_family_bed", headers=resident)).json()
    assert [f["name"] for f in form["fields"]] == ["pet", "vaccinated_on"]
    case = await client.post(
        f"{APP}/forms/eld_family_bed/cases",
        json={"values": {"pet": "cat", "vaccinated_on": "2026-03-01"}},
        headers=resident,
    )
    assert case.status_code == 201 and case.json()["event_id"] is None and case.json()["deadlines"] is None
    nanhong = await client.put(
        f"/api/v1/tenants/{tenant_id('nanhong')}/forms/eld_family_bed", json={"fields": fields}, headers=admin
    )
    assert nanhong.status_code == 404
    mine = (await client.get(f"{APP}/cases", headers=resident)).json()["items"]
    assert [c["service"] for c in mine][:1] == ["eld_family_bed"]
