"""Forms of `form` services: a definition per service (the tenant's own, else the shipped default),
submissions checked on the server field by field, cases that staff approve, reject or send back for more
and the applicant amends. Identity numbers are stored encrypted (as in the registry) and masked after
entry. A service that names an event item raises that item for the case, so its routing and deadlines
apply. Never commits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from linli.events import intake, lifecycle, reading
from linli.events.notifications import notify_in_app
from linli.platform import audit
from linli.platform.access import Permission, Principal, access_object, role_permits, tenant_chain
from linli.platform.db import within_scopes
from linli.platform.errors import BadRequest, Conflict, NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.masking import mask_id_number, sees_full
from linli.platform.sources import SYSTEM_SOURCES
from linli.residentapp import files
from linli.residentapp.context import AppContext
from linli.residentapp.models import CASE_OPEN_STATUSES, AppFile, FormCase, FormCaseEntry, FormDefinition
from linli.residentapp.repository import AppRepository
from linli.residentapp.schemas import CaseOut, CaseStep, Deadlines, FieldValue, FormField, FormOut, FormPhoto
from linli.residents import service as registry
from linli.residents.crypto import decrypt_id_number, encrypt_id_number, id_number_hash
from linli.residents.schemas import validate_id_number
from linli.services.service import TenantApp, tenant_app
from linli.tenants.lifecycle import get_tenant
from linli.tenants.service import now

FORMS_FILE = Path(__file__).with_name("forms.yaml")
DEFAULT_KEY = "_default"
CASES_READ = Permission("form_cases", "read")
CASES_REVIEW = Permission("form_cases", "review")
CASES_AMEND = Permission("form_cases", "amend")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_TEXT_LENGTH = 200
# What a decision does to a case: (allowed from, to).
DECISIONS = {
    "approve": (CASE_OPEN_STATUSES, "approved"),
    "reject": (CASE_OPEN_STATUSES, "rejected"),
    "more_info": (("submitted",), "more_info"),
}


@cache
def default_definitions() -> dict[str, tuple[FormField, ...]]:
    raw = yaml.safe_load(FORMS_FILE.read_text(encoding="utf-8"))
    return {code: tuple(FormField.model_validate(f) for f in fields) for code, fields in raw.items()}


def check_definition(fields: Sequence[FormField]) -> None:
    """What the field schema alone cannot say: unique names, options for choices."""
    problems = []
    names = [f.name for f in fields]
    problems += [f"{n}: named twice" for n in sorted({n for n in names if names.count(n) > 1})]
    problems += [f"{f.name}: a choice needs options" for f in fields if f.kind == "choice" and not f.options]
    problems += [
        f"{f.name}: minimum above maximum"
        for f in fields
        if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum
    ]
    if problems:
        raise BadRequest("; ".join(problems), code="invalid_form_definition", details=problems)


async def definition(session: AsyncSession, app: TenantApp, code: str) -> FormOut:
    """The form of a `form` service (switched on or off): the tenant's own, else the shipped default. Part of
    the app's configuration: read in the tenant's scope (a resident's own, an estate, does not hold it)."""
    app.check_kind(code, "form")
    async with within_scopes(session, [app.node_path]):
        own = await AppRepository(session).form_definition(tenant_id=app.id, service_code=code)
    defaults = default_definitions()
    fields = (
        [FormField.model_validate(f) for f in own.fields]
        if own is not None
        else list(defaults.get(code, defaults[DEFAULT_KEY]))
    )
    names = {s.code: s for s in app.services()}
    service = names.get(code)
    return FormOut(
        service=code,
        name=service.name if service else code,
        name_en=service.name_en if service else code,
        item_code=service.item_code if service else None,
        fields=fields,
        version=own.version if own is not None else 0,
        custom=own is not None,
    )


async def put_definition(
    session: AsyncSession, *, actor: Principal, tenant_id: int, code: str, fields: Sequence[FormField]
) -> FormOut:
    tenant = await get_tenant(session, actor=actor, tenant_id=tenant_id, permission=("forms", "update"))
    app = await tenant_app(session, slug=tenant.slug)
    app.check_kind(code, "form")
    check_definition(fields)
    repo = AppRepository(session)
    own = await repo.form_definition(tenant_id=tenant.id, service_code=code)
    stored = [f.model_dump(exclude_none=True) for f in fields]
    before = {"version": own.version, "fields": own.fields} if own is not None else None
    if own is None:
        own = FormDefinition(
            tenant_id=tenant.id, node_path=tenant.node_path, service_code=code, fields=stored, version=1
        )
        repo.add(own)
    else:
        own.fields, own.version, own.updated_at = stored, own.version + 1, now()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="form_definition.put",
        object_type="form_definition",
        object_id=f"{tenant.slug}/{code}",
        node_path=tenant.node_path,
        before=before,
        after={"version": own.version, "fields": stored},
    )
    return await definition(session, app, code)


async def tenant_form(session: AsyncSession, *, actor: Principal, tenant_id: int, code: str) -> FormOut:
    tenant = await get_tenant(session, actor=actor, tenant_id=tenant_id, permission=("forms", "read"))
    return await definition(session, await tenant_app(session, slug=tenant.slug), code)


# Values --------------------------------------------------------------------------------------------


def _problem(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _check_value(field: FormField, value: FieldValue, photos: set[str]) -> tuple[Any, dict[str, str] | None]:
    """The value to store, or a problem with it."""
    name = field.name
    if field.kind in ("text", "id_number", "date"):
        if not isinstance(value, str):
            return None, _problem(name, "not_text", "expected text")
        value = value.strip()
        if field.kind == "text":
            limit = field.max_length or DEFAULT_TEXT_LENGTH
            return (value, None) if len(value) <= limit else (None, _problem(name, "too_long", f"at most {limit}"))
        if field.kind == "date":
            if DATE.match(value):
                try:
                    return date.fromisoformat(value).isoformat(), None
                except ValueError:
                    pass
            return None, _problem(name, "not_a_date", "expected YYYY-MM-DD")
        try:
            number = validate_id_number(value)
        except ValueError as exc:
            return None, _problem(name, "invalid_id_number", str(exc))
        assert number is not None
        return {"encrypted": encrypt_id_number(number), "hash": id_number_hash(number)[:16]}, None
    if field.kind == "number":
        try:
            amount = float(value) if isinstance(value, str | int | float) else None
        except ValueError:
            amount = None
        if amount is None or amount != amount or amount in (float("inf"), float("-inf")):
            return None, _problem(name, "not_a_number", "expected a number")
        if field.minimum is not None and amount < field.minimum:
            return None, _problem(name, "too_small", f"at least {field.minimum:g}")
        if field.maximum is not None and amount > field.maximum:
            return None, _problem(name, "too_large", f"at most {field.maximum:g}")
        return amount, None
    if field.kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        allowed = {o.value for o in field.options or []}
        if not chosen or any(c not in allowed for c in chosen) or (len(chosen) > 1 and not field.multiple):
            return None, _problem(name, "not_an_option", f"one of: {', '.join(sorted(allowed))}")
        return (chosen if field.multiple else chosen[0]), None
    ids = value if isinstance(value, list) else [value]
    if len(ids) > field.max_photos:
        return None, _problem(name, "too_many_photos", f"at most {field.max_photos}")
    if any(not isinstance(i, str) or i not in photos for i in ids):
        return None, _problem(name, "unknown_photo", "upload the photo first, then name its id")
    return ids, None


def _empty(value: FieldValue) -> bool:
    return value is None or value == "" or value == []


def check_values(fields: Sequence[FormField], values: dict[str, FieldValue], photos: set[str]) -> dict[str, Any]:
    """The values to store, or 400 `invalid_form_values` with every problem, field by field."""
    known = {f.name for f in fields}
    problems = [_problem(k, "unknown_field", "this form has no such field") for k in values if k not in known]
    cleaned: dict[str, Any] = {}
    for field in fields:
        value = values.get(field.name)
        if _empty(value):
            if field.required:
                problems.append(_problem(field.name, "required", "required"))
            continue
        stored, problem = _check_value(field, value, photos)
        if problem is not None:
            problems.append(problem)
        else:
            cleaned[field.name] = stored
    if problems:
        raise BadRequest(
            f"{len(problems)} field(s) need attention: {', '.join(p['field'] for p in problems)}",
            code="invalid_form_values",
            details=problems,
        )
    return cleaned


async def _usable_photos(
    session: AsyncSession, actor: Principal, tenant_id: int, values: dict[str, FieldValue], case_id: int | None
) -> dict[str, AppFile]:
    """The caller's own uploads named in the values, not part of another case or a notice."""
    named: list[uuid.UUID] = []
    for value in values.values():
        for candidate in value if isinstance(value, list) else [value]:
            try:
                named.append(uuid.UUID(str(candidate)))
            except ValueError:
                continue
    rows = await AppRepository(session).files(named)
    return {
        str(r.id): r
        for r in rows
        if r.uploaded_by == actor.id
        and r.tenant_id == tenant_id
        and r.notice_id is None
        and r.case_id in (None, case_id)
    }


def _shown_values(actor: Principal, case: FormCase) -> tuple[dict[str, Any], bool]:
    full = sees_full(g.role for g in actor.grants_covering(case.node_path))
    kinds = {f["name"]: f["kind"] for f in case.fields}
    shown: dict[str, Any] = {}
    for name, value in case.values.items():
        if kinds.get(name) == "id_number" and isinstance(value, dict):
            number = decrypt_id_number(str(value.get("encrypted", "")))
            shown[name] = number if full else mask_id_number(number)
        else:
            shown[name] = value
    return shown, not full


# Cases ---------------------------------------------------------------------------------------------


def _entry(
    session: AsyncSession, case: FormCase, actor: Principal, action: str, from_status: str | None, note: str | None
) -> None:
    AppRepository(session).add(
        FormCaseEntry(
            case_id=case.id,
            node_path=case.node_path,
            at=now(),
            actor_id=str(actor.id),
            actor_label=actor.display_name or None,
            action=action,
            from_status=from_status,
            to_status=case.status,
            note=note,
        )
    )


def _snapshot(case: FormCase) -> dict[str, Any]:
    return {
        "service": case.service_code,
        "status": case.status,
        "fields": sorted(case.values),
        "event_id": case.event_id,
        "version": case.version,
    }


def _source_for(sources: Sequence[str]) -> str:
    """A form case raises its item as a resident's report where the item allows it, else as the first
    non-system source the taxonomy lists (e.g. a rental registration, which staff check on patrol)."""
    if "resident_report" in sources:
        return "resident_report"
    return next((s for s in sources if s not in SYSTEM_SOURCES), "staff_patrol")


async def _home(session: AsyncSession, ctx: AppContext) -> int:
    """The estate a case belongs to: the caller's household's in this tenant (a grant's otherwise)."""
    households = [h for h in await registry.own_households(session, actor=ctx.actor) if ctx.inside(h.node_path)]
    if households:
        return households[0].node_id
    for grant in ctx.actor.grants:
        if grant.role == "resident" and ctx.inside(grant.node_path):
            return grant.node_id
    raise Conflict("you have no household here to apply from", code="no_household")


async def upload_photo(session: AsyncSession, *, ctx: AppContext, code: str, filename: str, data: bytes) -> FormPhoto:
    ctx.app.service(code, kind="form")
    node = await NodeService(session).get_for(ctx.actor, await _home(session, ctx), ("form_cases", "create"))
    row = await files.store(
        session, actor=ctx.actor, tenant_id=ctx.app.id, node_path=node.node_path, filename=filename, data=data
    )
    return FormPhoto(id=row.id, content_type=row.content_type, size_bytes=row.size_bytes)


async def submit(session: AsyncSession, *, ctx: AppContext, code: str, values: dict[str, FieldValue]) -> FormCase:
    service = ctx.app.service(code, kind="form")
    form = await definition(session, ctx.app, code)
    node = await NodeService(session).get_for(ctx.actor, await _home(session, ctx), ("form_cases", "create"))
    photos = await _usable_photos(session, ctx.actor, ctx.app.id, values, None)
    cleaned = check_values(form.fields, values, set(photos))
    at = now()
    case = FormCase(
        tenant_id=ctx.app.id,
        node_id=node.id,
        node_path=node.node_path,
        service_code=code,
        applicant_id=ctx.actor.id,
        status="submitted",
        values=cleaned,
        fields=[f.model_dump(exclude_none=True) for f in form.fields],
        created_at=at,
        updated_at=at,
        version=1,
    )
    repo = AppRepository(session)
    repo.add(case)
    await session.flush()
    for name in _photo_names(form.fields, cleaned):
        photos[name].case_id = case.id
    if service.item_code is not None:
        item = await reading.catalog_item(session, service.item_code)
        if item is not None:
            event, _ = await intake.create_event(
                session,
                actor=None,
                actor_label=f"form case {case.id}",
                intake=intake.Intake(
                    item_code=item.code,
                    node_id=node.id,
                    source=_source_for(item.sources),
                    description=f"{service.name} #{case.id}",
                    external_ref=f"form_case:{case.id}",
                    reporter_label=f"{service.name} #{case.id}",
                    attrs={"form_case_id": case.id, "service": code},
                    merge_duplicates=False,
                ),
            )
            case.event_id, case.accept_by, case.resolve_by = event.id, event.accept_by, event.resolve_by
    _entry(session, case, ctx.actor, "submitted", None, None)
    await session.flush()
    await audit.record(
        session,
        actor=ctx.actor,
        action="form_case.submit",
        object_type="form_case",
        object_id=case.id,
        node_path=case.node_path,
        after=_snapshot(case),
    )
    return case


def _photo_names(fields: Sequence[FormField], cleaned: dict[str, Any]) -> list[str]:
    return [i for f in fields if f.kind == "photo" for i in cleaned.get(f.name, [])]


async def get_case(
    session: AsyncSession, *, actor: Principal, case_id: int, permission: Permission = CASES_READ
) -> FormCase:
    """A case the caller may see: under a resident grant only their own (404 otherwise)."""
    case = await access_object(
        session,
        actor,
        await AppRepository(session).case(case_id, for_update=permission != CASES_READ),
        permission=permission,
        what="form case",
    )
    staff = any(
        g.role != "resident" and role_permits(g.role, "form_cases", "read")
        for g in actor.grants_covering(case.node_path)
    )
    if not staff and case.applicant_id != actor.id:
        raise NotFound("form case")
    return case


async def amend(session: AsyncSession, *, ctx: AppContext, case_id: int, values: dict[str, FieldValue]) -> FormCase:
    """The applicant answers a request for more: new values, checked against the case's own fields."""
    case = await get_case(session, actor=ctx.actor, case_id=case_id, permission=CASES_AMEND)
    if case.applicant_id != ctx.actor.id or not ctx.inside(case.node_path):
        raise NotFound("form case")
    if case.status != "more_info":
        raise Conflict(f"a case that is {case.status} is not amended", code="case_not_amendable")
    fields = [FormField.model_validate(f) for f in case.fields]
    photos = await _usable_photos(session, ctx.actor, case.tenant_id, values, case.id)
    before = _snapshot(case)
    case.values = check_values(fields, values, set(photos))
    for name in _photo_names(fields, case.values):
        photos[name].case_id = case.id
    case.status, case.version, case.updated_at = "submitted", case.version + 1, now()
    _entry(session, case, ctx.actor, "amended", "more_info", None)
    await session.flush()
    await audit.record(
        session,
        actor=ctx.actor,
        action="form_case.amend",
        object_type="form_case",
        object_id=case.id,
        node_path=case.node_path,
        before=before,
        after=_snapshot(case),
    )
    return case


class CaseApprovedHandler(Protocol):
    def __call__(
        self,
        session: AsyncSession,
        *,
        actor: Principal | None,
        node_path: str,
        service: str,
        applicant_id: uuid.UUID,
        case_id: int,
        values: dict[str, Any],
    ) -> Awaitable[None]: ...


# Called in the approval's transaction (wiring: the points ledger pays recycling-bank drop-offs).
CASE_APPROVED_HANDLERS: list[CaseApprovedHandler] = []


async def review(
    session: AsyncSession, *, actor: Principal, case_id: int, decision: str, note: str | None, version: int | None
) -> FormCase:
    case = await get_case(session, actor=actor, case_id=case_id, permission=CASES_REVIEW)
    if version is not None and version != case.version:
        raise Conflict(
            f"the case changed (version {case.version}, you saw {version}); reload it", code="version_conflict"
        )
    allowed_from, to_status = DECISIONS[decision]
    if case.status not in allowed_from:
        raise Conflict(f"cannot {decision} a case that is {case.status}", code="invalid_case_transition")
    before = _snapshot(case)
    from_status = case.status
    case.status, case.decision_note = to_status, note
    case.version, case.updated_at = case.version + 1, now()
    if to_status in ("approved", "rejected"):
        case.decided_at = case.updated_at
    _entry(session, case, actor, decision, from_status, note)
    if case.event_id is not None:
        if to_status == "more_info":
            await lifecycle.transition(session, actor=actor, event_id=case.event_id, action="comment", note=note)
        else:
            await lifecycle.conclude(session, actor=actor, event_id=case.event_id, note=f"{to_status}: {note or ''}")
    titles = {
        "approved": "申请已通过 Approved",
        "rejected": "申请未通过 Declined",
        "more_info": "请补充材料 More needed",
    }
    notify_in_app(
        session,
        node_path=case.node_path,
        recipient_id=case.applicant_id,
        kind=f"form_case.{to_status}",
        title=titles[to_status],
        body=note or "",
        payload={"case_id": case.id, "service": case.service_code, "status": to_status},
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"form_case.{decision}",
        object_type="form_case",
        object_id=case.id,
        node_path=case.node_path,
        before=before,
        after=_snapshot(case),
    )
    if to_status == "approved":
        for handler in CASE_APPROVED_HANDLERS:
            await handler(
                session,
                actor=actor,
                node_path=case.node_path,
                service=case.service_code,
                applicant_id=case.applicant_id,
                case_id=case.id,
                values=case.values,
            )
    return case


async def case_out(session: AsyncSession, *, actor: Principal, case: FormCase, app: TenantApp | None = None) -> CaseOut:
    app = app or await tenant_app(session, slug=await _slug_of(session, case))
    values, masked = _shown_values(actor, case)
    names = {s.code: s for s in app.services()}
    service = names.get(case.service_code)
    item = await reading.catalog_item(session, service.item_code) if service and service.item_code else None
    mine = str(actor.id)
    entries = await AppRepository(session).case_entries(case.id)
    return CaseOut(
        id=case.id,
        tenant_id=case.tenant_id,
        node_id=case.node_id,
        node_path=case.node_path,
        service=case.service_code,
        service_name=service.name if service else case.service_code,
        service_name_en=service.name_en if service else case.service_code,
        status=case.status,
        values=values,
        fields=[FormField.model_validate(f) for f in case.fields],
        event_id=case.event_id,
        deadlines=Deadlines(
            accept_by=case.accept_by,
            resolve_by=case.resolve_by,
            accept_minutes=item.accept_minutes,
            resolve_minutes=item.resolve_minutes,
        )
        if item is not None
        else None,
        decision_note=case.decision_note,
        created_at=case.created_at,
        updated_at=case.updated_at,
        decided_at=case.decided_at,
        version=case.version,
        timeline=[
            CaseStep(
                at=e.at,
                action=e.action,
                status=e.to_status,
                note=e.note,
                by="me" if e.actor_id == mine else ("staff" if e.actor_id else "system"),
            )
            for e in entries
        ],
        masked=masked,
    )


async def _slug_of(session: AsyncSession, case: FormCase) -> str:
    chain = await tenant_chain(session, case.node_path)
    return chain[-1].slug


async def list_cases(
    session: AsyncSession,
    *,
    actor: Principal,
    within_path: str | None,
    mine: bool,
    node_id: int | None = None,
    statuses: Sequence[str] | None,
    service: str | None,
    before_id: int | None,
    limit: int,
) -> Sequence[FormCase]:
    """Under a resident grant (or with `mine`) the caller's own cases; staff every case in their scope."""
    staff_paths = () if mine else actor.full_scopes_for("form_cases", "read")
    if node_id is not None:
        within_path = (await NodeService(session).get_visible(node_id)).node_path
    return await AppRepository(session).cases(
        applicant_id=None if staff_paths and not mine else actor.id,
        within_path=within_path,
        statuses=statuses,
        service=service,
        before_id=before_id,
        limit=limit,
    )


async def case_photo(session: AsyncSession, *, actor: Principal, case_id: int, file_id: uuid.UUID) -> tuple[str, bytes]:
    case = await get_case(session, actor=actor, case_id=case_id)
    row = await AppRepository(session).file(file_id)
    if row is None or row.case_id != case.id:
        raise NotFound("photo")
    return row.content_type, await files.content(row)
