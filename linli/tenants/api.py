from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from linli.platform import audit
from linli.platform.access import CurrentPrincipal, DbSession
from linli.platform.audit import mask_value
from linli.platform.hierarchy.service import NodeService
from linli.platform.http import client_address
from linli.platform.ids import Id
from linli.platform.masking import mask_phone
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
from linli.platform.window import require_aware
from linli.tenants import grants, lifecycle, service
from linli.tenants.models import Tenant
from linli.tenants.permissions import (
    ApiKeysCreate,
    ApiKeysRead,
    ApiKeysRevoke,
    AuditExport,
    AuditRead,
    GrantsCreate,
    GrantsDelete,
    TenantsExport,
    TenantsOffboard,
    TenantsOnboard,
    TenantsRead,
    TenantsUpdate,
    UsersInvite,
    UsersRead,
)
from linli.tenants.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    AuditEntryOut,
    AuditVerificationOut,
    ChainBreakOut,
    ChainStatusOut,
    GrantCreate,
    GrantOut,
    GrantPermissionsOut,
    InvitationAccept,
    InviteOut,
    MeOut,
    MyPermissionsOut,
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
    issued = await service.login(session, login=username, password=password, address=client_address(request))
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
    issued = await service.accept_invitation(
        session, token=body.token, password=body.password, display_name=body.display_name
    )
    return _tokens(issued)


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
        user = await service.get_user(session, user_id=principal.id)
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


@router.get("/me/permissions", operation_id="get_my_permissions", tags=["auth"])
async def get_my_permissions(principal: CurrentPrincipal, session: DbSession) -> MyPermissionsOut:
    """Per grant: the node (with the way up to it) and the resources and actions the role allows there
    and below, from the policies ("*" spelled out); and the union over all grants."""
    rows = [GrantPermissionsOut.model_validate(g) for g in await grants.my_permissions(session, actor=principal)]
    union: dict[str, set[str]] = {}
    for row in rows:
        for resource, actions in row.permissions.items():
            union.setdefault(resource, set()).update(actions)
    return MyPermissionsOut(kind=principal.kind, grants=rows, union={r: sorted(a) for r, a in sorted(union.items())})


async def _tenant_out(session: DbSession, tenant: Tenant, *, counted: bool = False) -> TenantOut:
    out = TenantOut.model_validate(tenant)
    out.effective_settings = await lifecycle.effective_settings(session, tenant=tenant)
    if counted:
        out.counts = await lifecycle.tenant_counts(session, tenant=tenant)
    return out


@router.post("/tenants", status_code=201, operation_id="onboard_tenant")
async def onboard_tenant(body: TenantCreate, session: DbSession, principal: TenantsOnboard) -> OnboardingOut:
    result = await lifecycle.onboard(
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
    principal: TenantsRead,
    status: Annotated[str | None, Query(pattern="^(active|suspended|offboarded)$")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[TenantOut]:
    rows = await lifecycle.list_tenants(session, status=status, after_id=decode_int_cursor(cursor), limit=limit)
    items = [await _tenant_out(session, r, counted=True) for r in rows]
    return Page(items=items, next_cursor=next_cursor(rows, limit))


@router.get("/tenants/{tenant_id}", operation_id="get_tenant")
async def get_tenant(tenant_id: Id, session: DbSession, principal: TenantsRead) -> TenantOut:
    tenant = await lifecycle.get_tenant(session, actor=principal, tenant_id=tenant_id, permission=("tenants", "read"))
    return await _tenant_out(session, tenant, counted=True)


@router.patch("/tenants/{tenant_id}", operation_id="update_tenant")
async def update_tenant(
    tenant_id: Id,
    body: TenantUpdate,
    session: DbSession,
    principal: TenantsUpdate,
) -> TenantOut:
    tenant = await lifecycle.update_tenant(
        session,
        actor=principal,
        tenant_id=tenant_id,
        branding=body.branding.model_dump(exclude_none=True) if body.branding else None,
        settings=body.settings,
        status=body.status,
    )
    return await _tenant_out(session, tenant)


@router.post("/tenants/{tenant_id}/offboard", operation_id="offboard_tenant")
async def offboard_tenant(tenant_id: Id, session: DbSession, principal: TenantsOffboard) -> TenantOut:
    return await _tenant_out(session, await lifecycle.offboard(session, actor=principal, tenant_id=tenant_id))


@router.get("/tenants/{tenant_id}/export", operation_id="export_tenant")
async def export_tenant(tenant_id: Id, session: DbSession, principal: TenantsExport) -> Response:
    """The tenant's data as one JSON document, one key per tenant-owned table (nodes, locations,
    grants, API keys, the audit log and every domain's tables): the offboarding archive."""
    tenant, tables = await lifecycle.export_tenant(session, actor=principal, tenant_id=tenant_id)
    archive = {"tenant": TenantOut.model_validate(tenant).model_dump(mode="json")} | tables
    return Response(
        json.dumps(archive, ensure_ascii=False, default=str),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{tenant.slug}-export.json"'},
    )


@router.get("/users", operation_id="list_users")
async def list_users(
    session: DbSession,
    principal: UsersRead,
    node_id: Id | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[UserGrantOut]:
    rows = await grants.list_users(
        session, actor=principal, node_id=node_id, after_id=decode_int_cursor(cursor), limit=limit
    )
    items = [
        UserGrantOut(
            grant_id=r.grant.id,
            user_id=r.user.id,
            display_name=r.user.display_name,
            email=r.user.email if r.sees_contacts else mask_value("email", r.user.email),
            phone=r.user.phone if r.sees_contacts else mask_phone(r.user.phone),
            masked=not r.sees_contacts,
            role=r.grant.role,
            node_id=r.grant.node_id,
            node_path=r.grant.node_path,
        )
        for r in rows
    ]
    return Page(items=items, next_cursor=next_cursor([r.grant for r in rows], limit))


@router.post("/users/invitations", status_code=201, operation_id="invite_user")
async def invite_user(body: UserInvite, session: DbSession, principal: UsersInvite) -> InviteOut:
    user, grant, token, expires = await grants.invite_user(
        session,
        actor=principal,
        email=str(body.email),
        display_name=body.display_name,
        role=body.role,
        node_id=body.node_id,
    )
    return InviteOut(user_id=user.id, grant_id=grant.id, invitation_token=token, invitation_expires_at=expires)


@router.post("/grants", status_code=201, operation_id="create_grant")
async def create_grant(body: GrantCreate, session: DbSession, principal: GrantsCreate) -> GrantOut:
    grant = await grants.create_grant(
        session, actor=principal, user_id=body.user_id, role=body.role, node_id=body.node_id
    )
    return GrantOut.model_validate(grant)


@router.delete("/grants/{grant_id}", status_code=204, operation_id="delete_grant")
async def delete_grant(grant_id: Id, session: DbSession, principal: GrantsDelete) -> Response:
    await grants.revoke_grant(session, actor=principal, grant_id=grant_id)
    return Response(status_code=204)


@router.get("/api-keys", operation_id="list_api_keys")
async def list_api_keys(
    session: DbSession,
    principal: ApiKeysRead,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[ApiKeyOut]:
    rows = await grants.list_api_keys(session, after=decode_uuid_cursor(cursor), limit=limit)
    return Page(items=[ApiKeyOut.model_validate(r) for r in rows], next_cursor=next_cursor(rows, limit))


@router.post("/api-keys", status_code=201, operation_id="create_api_key")
async def create_api_key(body: ApiKeyCreate, session: DbSession, principal: ApiKeysCreate) -> ApiKeyCreated:
    key, raw, signing = await grants.create_api_key(
        session, actor=principal, name=body.name, node_id=body.node_id, roles=body.roles, source=body.source
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=raw, signing_secret=signing)


@router.post("/api-keys/{key_id}/revoke", operation_id="revoke_api_key")
async def revoke_api_key(key_id: uuid.UUID, session: DbSession, principal: ApiKeysRevoke) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await grants.revoke_api_key(session, actor=principal, key_id=key_id))


async def audit_filters(
    session: DbSession,
    action: Annotated[str | None, Query(max_length=100)] = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    actor_id: Annotated[str | None, Query(max_length=100, description="the acting user's id")] = None,
    node_id: Annotated[Id | None, Query(description="the node's subtree")] = None,
    since: Annotated[datetime | None, Query(description="recorded at or after")] = None,
    until: Annotated[datetime | None, Query(description="recorded before")] = None,
) -> audit.EntryFilters:
    require_aware(since, until)
    within = await NodeService(session).path_filter(node_id)
    return audit.EntryFilters(action, object_type, actor_id, within, since, until)


AuditFilters = Annotated[audit.EntryFilters, Depends(audit_filters)]


@router.get("/audit", operation_id="list_audit_entries")
async def list_audit_entries(
    session: DbSession,
    principal: AuditRead,
    filters: AuditFilters,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[AuditEntryOut]:
    rows = await audit.entries(
        session,
        actor=principal,
        permission=("audit", "read"),
        filters=filters,
        after_id=decode_int_cursor(cursor),
        limit=limit,
    )
    items = [AuditEntryOut.model_validate(r) for r in rows]
    return Page(items=items, next_cursor=encode_cursor(items[-1].id) if len(items) == limit else None)


@router.get("/audit/verify", operation_id="verify_audit_chains")
async def verify_audit_chains(session: DbSession, principal: AuditRead) -> AuditVerificationOut:
    """Recompute the hash chains of the caller's scope: each chain ok, or its first broken entry."""
    result = await audit.verify_for(session, actor=principal)
    chains = []
    for chain, rows in sorted(result.chains.items()):
        broken = result.first_problem(chain)
        first = None if broken is None else ChainBreakOut(seq=broken.seq, problem=broken.problem)
        chains.append(ChainStatusOut(chain=chain, rows=rows, ok=broken is None, first_broken=first))
    return AuditVerificationOut(rows=result.rows, ok=not result.problems, chains=chains)


@router.get("/audit/export", operation_id="export_audit_entries", responses={200: {"content": {"text/csv": {}}}})
async def export_audit_entries(
    session: DbSession,
    principal: AuditExport,
    filters: AuditFilters,
) -> Response:
    rows = await audit.export(session, actor=principal, filters=filters, limit=100_000)
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
