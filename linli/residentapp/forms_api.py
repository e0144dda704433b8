"""The resident app's forms: `/api/v1/app/{slug}/forms|cases` for residents (a `form` service's fields,
photos, submitting and amending a case), `/api/v1/form-cases` for staff reviewing them, and the tenant's
form definitions."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, UploadFile
from fastapi.responses import Response

from linli.platform.access import DbSession
from linli.platform.errors import NotFound
from linli.platform.ids import Id
from linli.platform.pagination import Cursor, Limit, Page, decode_int_cursor, next_cursor
from linli.residentapp import files, forms
from linli.residentapp.context import app_context
from linli.residentapp.permissions import (
    FormCasesAmend,
    FormCasesCreate,
    FormCasesRead,
    FormCasesReview,
    FormsRead,
    FormsUpdate,
)
from linli.residentapp.schemas import CaseOut, CaseReview, FormDefinitionIn, FormOut, FormPhoto, FormSubmit
from linli.services.api import Slug

app_router = APIRouter(prefix="/api/v1/app/{slug}", tags=["resident app"])
router = APIRouter(prefix="/api/v1", tags=["resident app (console)"])

ServiceParam = Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


@app_router.get("/forms/{service}", operation_id="get_app_form")
async def get_app_form(slug: Slug, service: str, session: DbSession, principal: FormsRead) -> FormOut:
    """The fields of a switched-on `form` service."""
    ctx = await app_context(session, slug=slug, actor=principal)
    ctx.app.service(service, kind="form")
    return await forms.definition(session, ctx.app, service)


@app_router.post("/forms/{service}/photos", status_code=201, operation_id="upload_form_photo")
async def upload_form_photo(
    slug: Slug, service: str, session: DbSession, principal: FormCasesCreate, file: Annotated[UploadFile, files.PHOTO]
) -> FormPhoto:
    """A photo for a photo field (metadata removed); name its id in the field's value."""
    ctx = await app_context(session, slug=slug, actor=principal)
    return await forms.upload_photo(
        session, ctx=ctx, code=service, filename=file.filename or "photo", data=await files.read_upload(file)
    )


@app_router.post("/forms/{service}/cases", status_code=201, operation_id="submit_form")
async def submit_form(
    slug: Slug, service: str, body: FormSubmit, session: DbSession, principal: FormCasesCreate
) -> CaseOut:
    """Submit the form: `400 invalid_form_values` lists every field's problem in `details`
    (`[{field, code, message}]`). A service naming an event item raises it (its routing and deadlines)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    case = await forms.submit(session, ctx=ctx, code=service, values=body.values)
    return await forms.case_out(session, actor=principal, case=case, app=ctx.app)


@app_router.get("/cases", operation_id="list_my_cases")
async def list_my_cases(
    slug: Slug,
    session: DbSession,
    principal: FormCasesRead,
    status: Literal["submitted", "more_info", "approved", "rejected"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CaseOut]:
    ctx = await app_context(session, slug=slug, actor=principal)
    rows = await forms.list_cases(
        session,
        actor=principal,
        within_path=ctx.app.node_path,
        mine=True,
        statuses=[status] if status else None,
        service=None,
        before_id=decode_int_cursor(cursor),
        limit=limit,
    )
    items = [await forms.case_out(session, actor=principal, case=c, app=ctx.app) for c in rows]
    return Page(items=items, next_cursor=next_cursor(rows, limit))


@app_router.get("/cases/{case_id}", operation_id="get_my_case")
async def get_my_case(slug: Slug, case_id: Id, session: DbSession, principal: FormCasesRead) -> CaseOut:
    ctx = await app_context(session, slug=slug, actor=principal)
    case = await forms.get_case(session, actor=principal, case_id=case_id)
    if not ctx.inside(case.node_path):
        raise NotFound("form case")
    return await forms.case_out(session, actor=principal, case=case, app=ctx.app)


@app_router.put("/cases/{case_id}", operation_id="amend_case")
async def amend_case(
    slug: Slug, case_id: Id, body: FormSubmit, session: DbSession, principal: FormCasesAmend
) -> CaseOut:
    """Answer a request for more information: the whole form again (it goes back to staff)."""
    ctx = await app_context(session, slug=slug, actor=principal)
    case = await forms.amend(session, ctx=ctx, case_id=case_id, values=body.values)
    return await forms.case_out(session, actor=principal, case=case, app=ctx.app)


@router.get("/tenants/{tenant_id}/forms/{service}", operation_id="get_form_definition")
async def get_form_definition(tenant_id: Id, service: str, session: DbSession, principal: FormsRead) -> FormOut:
    return await forms.tenant_form(session, actor=principal, tenant_id=tenant_id, code=service)


@router.put("/tenants/{tenant_id}/forms/{service}", operation_id="put_form_definition")
async def put_form_definition(
    tenant_id: Id, service: str, body: FormDefinitionIn, session: DbSession, principal: FormsUpdate
) -> FormOut:
    """Replace the tenant's fields of a `form` service (cases keep the fields they were submitted with)."""
    return await forms.put_definition(session, actor=principal, tenant_id=tenant_id, code=service, fields=body.fields)


@router.get("/form-cases", operation_id="list_form_cases")
async def list_form_cases(
    session: DbSession,
    principal: FormCasesRead,
    node_id: Id | None = None,
    status: Literal["submitted", "more_info", "approved", "rejected"] | None = None,
    service: ServiceParam | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CaseOut]:
    """Cases in the caller's scope (a resident: their own), newest first."""
    rows = await forms.list_cases(
        session,
        actor=principal,
        within_path=None,
        node_id=node_id,
        mine=False,
        statuses=[status] if status else None,
        service=service,
        before_id=decode_int_cursor(cursor),
        limit=limit,
    )
    items = [await forms.case_out(session, actor=principal, case=c) for c in rows]
    return Page(items=items, next_cursor=next_cursor(rows, limit))


@router.get("/form-cases/{case_id}", operation_id="get_form_case")
async def get_form_case(case_id: Id, session: DbSession, principal: FormCasesRead) -> CaseOut:
    case = await forms.get_case(session, actor=principal, case_id=case_id)
    return await forms.case_out(session, actor=principal, case=case)


@router.post("/form-cases/{case_id}/review", operation_id="review_form_case")
async def review_form_case(case_id: Id, body: CaseReview, session: DbSession, principal: FormCasesReview) -> CaseOut:
    """Approve, reject (with a reason) or ask for more (the applicant amends); a case with an event
    concludes it when decided. The applicant is told in their inbox."""
    case = await forms.review(
        session, actor=principal, case_id=case_id, decision=body.decision, note=body.note, version=body.version
    )
    return await forms.case_out(session, actor=principal, case=case)


@router.get(
    "/form-cases/{case_id}/photos/{file_id}",
    operation_id="get_form_case_photo",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
async def get_form_case_photo(
    case_id: Id, file_id: uuid.UUID, session: DbSession, principal: FormCasesRead
) -> Response:
    content_type, data = await forms.case_photo(session, actor=principal, case_id=case_id, file_id=file_id)
    return Response(data, media_type=content_type, headers=files.IMAGE_HEADERS)
