from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import text

from linli.platform.access import CurrentPrincipal, DbSession, Principal, require
from linli.platform.audit import mask_value
from linli.platform.db import scopes_literal
from linli.platform.errors import NotFound
from linli.platform.hierarchy.service import NodeService
from linli.platform.ids import Id
from linli.platform.pagination import (
    Cursor,
    Limit,
    Page,
    decode_int_cursor,
    decode_uuid_cursor,
    encode_cursor,
    next_cursor,
)
from linli.platform.security import decode_access_token
from linli.residents.masking import mask_phone
from linli.tenants import service
from linli.tenants.repository import TenantRepository, UserRepository
from linli.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEntryOut,
    GrantCreate,
    GrantOut,
    InvitationAccept,
    InviteOut,
    MeOut,
    OnboardingOut,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshIn,
    TenantCreate,
    TenantOut,
    TenantUpdate,
    TokenOut,
    UserGrantOut,
    UserInvite,
)

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
router = APIRouter(prefix="/api/v1", tags=["tenants"])


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _tokens(issued: service.IssuedTokens) -> TokenOut:
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in, refresh_token=issued.refresh_token)


@auth_router.post("/token", operation_id="issue_token")
async def issue_token(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(min_length=3, max_length=254, description="e-mail (staff) or phone (residents)")],
    password: Annotated[str, Form(min_length=1, max_length=200)],
) -> TokenOut:
    """OAuth2 password flow: a short access token and a rotating refresh token."""
    issued = await service.login(session, login=username, password=password, address=_client_address(request))
    return _tokens(issued)


@auth_router.post("/refresh", operation_id="refresh_token")
async def refresh_token(body: RefreshIn, session: DbSession) -> TokenOut:
    return _tokens(await service.refresh(session, refresh_token=body.refresh_token))


@auth_router.post("/logout", status_code=204, operation_id="logout")
async def logout(request: Request, session: DbSession, body: RefreshIn | None = None) -> Response:
    """End a session: its whole refresh-token family, named by the refresh token in the body or else by
    the bearer access token's session."""
    auth = request.headers.get("authorization", "")
    claims = decode_access_token(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    await service.logout(session, refresh_token=body.refresh_token if body else None, access_claims=claims)
    return Response(status_code=204)


@auth_router.post("/invitations/accept", operation_id="accept_invitation")
async def accept_invitation(body: InvitationAccept, session: DbSession) -> TokenOut:
    user = await service.use_user_token(
        session,
        token=body.token,
        purpose="invitation",
        password=body.password,
        display_name=body.display_name,
    )
    return _tokens(await service._issue_tokens(UserRepository(session), user))


@auth_router.post("/password-reset", status_code=202, operation_id="request_password_reset")
async def request_password_reset(body: PasswordResetRequest, session: DbSession) -> dict[str, str]:
    await service.request_password_reset(session, login=body.login)
    return {"status": "if the account exists, a reset link is on its way"}


@auth_router.post("/password-reset/confirm", operation_id="confirm_password_reset")
async def confirm_password_reset(body: PasswordResetConfirm, session: DbSession) -> dict[str, str]:
    await service.use_user_token(session, token=body.token, purpose="reset", password=body.password)
    return {"status": "password changed"}


@router.get("/me", operation_id="get_me", tags=["auth"])
async def get_me(principal: CurrentPrincipal, session: DbSession) -> MeOut:
    grants = [GrantOut(role=g.role, node_id=g.node_id, node_path=g.node_path) for g in principal.grants]
    if principal.kind == "user":
        user = await UserRepository(session).get(principal.id)
        if user is not None:
            return MeOut(
                kind="user",
                id=user.id,
                display_name=user.display_name,
                email=user.email,
                phone=user.phone,
                locale=user.locale,
                grants=grants,
            )
    return MeOut(kind=principal.kind, id=principal.id, display_name=principal.display_name, grants=grants)


async def _tenant_out(session: DbSession, tenant: object) -> TenantOut:
    out = TenantOut.model_validate(tenant)
    out.effective_settings = await service.effective_settings(session, tenant=tenant)  # type: ignore[arg-type]
    return out


@router.post("/tenants", status_code=201, operation_id="onboard_tenant")
async def onboard_tenant(
    body: TenantCreate, session: DbSession, principal: Annotated[Principal, require("tenants", "onboard")]
) -> OnboardingOut:
    result = await service.onboard(
        session,
        actor=principal,
        slug=body.slug,
        admin_email=str(body.admin_email),
        node_id=body.node_id,
        community_name=body.community_name,
        parent_street_id=body.parent_street_id,
        branding=body.branding.model_dump(exclude_none=True) if body.branding else None,
        settings=body.settings,
    )
    return OnboardingOut(
        tenant=await _tenant_out(session, result.tenant),
        admin_user_id=result.admin.id,
        invitation_token=result.invitation_token,
        invitation_expires_at=result.invitation_expires_at,
    )


@router.get("/tenants", operation_id="list_tenants")
async def list_tenants(
    session: DbSession,
    principal: Annotated[Principal, require("tenants", "read")],
    status: Annotated[str | None, Query(pattern="^(active|suspended|offboarded)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[TenantOut]:
    rows = await TenantRepository(session).list(status=status, after_id=decode_int_cursor(cursor), limit=limit)
    return Page(items=[await _tenant_out(session, r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.get("/tenants/{tenant_id}", operation_id="get_tenant")
async def get_tenant(
    tenant_id: Id, session: DbSession, principal: Annotated[Principal, require("tenants", "read")]
) -> TenantOut:
    return await _tenant_out(session, await service.get_tenant(session, tenant_id=tenant_id))


@router.patch("/tenants/{tenant_id}", operation_id="update_tenant")
async def update_tenant(
    tenant_id: Id,
    body: TenantUpdate,
    session: DbSession,
    principal: Annotated[Principal, require("tenants", "update")],
) -> TenantOut:
    tenant = await service.update_tenant(
        session,
        actor=principal,
        tenant_id=tenant_id,
        branding=body.branding.model_dump(exclude_none=True) if body.branding else None,
        settings=body.settings,
        status=body.status,
    )
    return await _tenant_out(session, tenant)


@router.post("/tenants/{tenant_id}/offboard", operation_id="offboard_tenant")
async def offboard_tenant(
    tenant_id: Id, session: DbSession, principal: Annotated[Principal, require("tenants", "offboard")]
) -> TenantOut:
    return await _tenant_out(session, await service.offboard(session, actor=principal, tenant_id=tenant_id))


@router.get("/tenants/{tenant_id}/export", operation_id="export_tenant")
async def export_tenant(
    tenant_id: Id, session: DbSession, principal: Annotated[Principal, require("tenants", "export")]
) -> Response:
    """The tenant's data as one JSON document, one key per tenant-owned table (nodes, locations,
    grants, API keys, the audit log and every domain's tables): the offboarding archive."""
    tenant = await service.get_tenant(session, tenant_id=tenant_id)
    principal.authorize("tenants", "export", tenant.node_path, what="tenant")
    archive: dict[str, object] = {"tenant": TenantOut.model_validate(tenant).model_dump(mode="json")}
    repo = TenantRepository(session)
    for table in await repo.tables_with_paths(privilege="SELECT"):
        archive[table] = await repo.export_rows(table, tenant.node_path)
    return Response(
        json.dumps(archive, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{tenant.slug}-export.json"'},
    )


@router.get("/users", operation_id="list_users")
async def list_users(
    session: DbSession,
    principal: Annotated[Principal, require("users", "read")],
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[UserGrantOut]:
    within = None
    if node_id is not None:
        within = (await NodeService(session).get_visible(node_id)).node_path
    repo = UserRepository(session)
    grants = await repo.list_with_grants(within_path=within, after_id=decode_int_cursor(cursor), limit=limit)
    users = await repo.users_by_ids(list({g.user_id for g in grants}))
    items = []
    for g in grants:
        user, full = users[g.user_id], service.sees_contacts(principal, g.node_path)
        items.append(
            UserGrantOut(
                grant_id=g.id,
                user_id=g.user_id,
                display_name=user.display_name,
                email=user.email if full else mask_value("email", user.email),
                phone=user.phone if full else mask_phone(user.phone),
                masked=not full,
                role=g.role,
                node_id=g.node_id,
                node_path=g.node_path,
            )
        )
    return Page(items=items, next_cursor=next_cursor(grants, limit))


@router.post("/users/invitations", status_code=201, operation_id="invite_user")
async def invite_user(
    body: UserInvite, session: DbSession, principal: Annotated[Principal, require("users", "invite")]
) -> InviteOut:
    user, grant, token, expires = await service.invite_user(
        session,
        actor=principal,
        email=str(body.email),
        display_name=body.display_name,
        role=body.role,
        node_id=body.node_id,
    )
    return InviteOut(user_id=user.id, grant_id=grant.id, invitation_token=token, invitation_expires_at=expires)


@router.post("/grants", status_code=201, operation_id="create_grant")
async def create_grant(
    body: GrantCreate, session: DbSession, principal: Annotated[Principal, require("grants", "create")]
) -> GrantOut:
    node = await NodeService(session).get_visible(body.node_id)
    user = await UserRepository(session).get(body.user_id)
    if user is None:
        raise NotFound("user")
    grant = await service.grant_role(session, actor=principal, user=user, role=body.role, node=node)
    return GrantOut.model_validate(grant)


@router.delete("/grants/{grant_id}", status_code=204, operation_id="delete_grant")
async def delete_grant(
    grant_id: Id, session: DbSession, principal: Annotated[Principal, require("grants", "delete")]
) -> Response:
    await service.revoke_grant(session, actor=principal, grant_id=grant_id)
    return Response(status_code=204)


@router.get("/api-keys", operation_id="list_api_keys")
async def list_api_keys(
    session: DbSession,
    principal: Annotated[Principal, require("api_keys", "read")],
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ApiKeyOut]:
    rows = await UserRepository(session).api_keys(after=decode_uuid_cursor(cursor), limit=limit)
    return Page(items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.post("/api-keys", status_code=201, operation_id="create_api_key")
async def create_api_key(
    body: ApiKeyCreate, session: DbSession, principal: Annotated[Principal, require("api_keys", "create")]
) -> ApiKeyCreated:
    key, raw, signing = await service.create_api_key(
        session, actor=principal, name=body.name, node_id=body.node_id, roles=body.roles, source=body.source
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=raw, signing_secret=signing)


@router.post("/api-keys/{key_id}/revoke", operation_id="revoke_api_key")
async def revoke_api_key(
    key_id: uuid.UUID, session: DbSession, principal: Annotated[Principal, require("api_keys", "revoke")]
) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await service.revoke_api_key(session, actor=principal, key_id=key_id))


AUDIT_QUERY = """
    select id, chain::text, seq, node_path::text, at, actor_id, actor_role, action, object_type, object_id,
           before, after, request_id, hash
    from audit_log
    where node_path <@ any (cast(:scopes as ltree[]))
      and (cast(:after_id as bigint) is null or id < :after_id)
      and (cast(:action as text) is null or action = :action)
      and (cast(:object_type as text) is null or object_type = :object_type)
    order by id desc limit :limit
"""


@router.get("/audit", operation_id="list_audit_entries")
async def list_audit_entries(
    session: DbSession,
    principal: Annotated[Principal, require("audit", "read")],
    action: str | None = None,
    object_type: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditEntryOut]:
    rows = (
        (
            await session.execute(
                text(AUDIT_QUERY),
                {
                    "scopes": scopes_literal(principal.scopes_for("audit", "read")),
                    "after_id": decode_int_cursor(cursor),
                    "action": action,
                    "object_type": object_type,
                    "limit": limit,
                },
            )
        )
        .mappings()
        .all()
    )
    items = [AuditEntryOut.model_validate(dict(r)) for r in rows]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(items) == limit else None)


@router.get("/audit/export", operation_id="export_audit_entries", responses={200: {"content": {"text/csv": {}}}})
async def export_audit_entries(
    session: DbSession,
    principal: Annotated[Principal, require("audit", "export")],
) -> Response:
    rows = (
        (
            await session.execute(
                text(AUDIT_QUERY),
                {
                    "scopes": scopes_literal(principal.scopes_for("audit", "export")),
                    "after_id": None,
                    "action": None,
                    "object_type": None,
                    "limit": 100_000,
                },
            )
        )
        .mappings()
        .all()
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    columns = [
        "id",
        "chain",
        "seq",
        "node_path",
        "at",
        "actor_id",
        "actor_role",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "request_id",
        "hash",
    ]
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [json.dumps(row[c], ensure_ascii=False) if c in ("before", "after") else row[c] for c in columns]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"content-disposition": 'attachment; filename="audit.csv"'},
    )
