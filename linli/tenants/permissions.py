"""The permissions of the tenants domain's endpoints, named once (each also narrows row-level security
to the grants that carry it; see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

TenantsOnboard = Annotated[Principal, require("tenants", "onboard")]
TenantsRead = Annotated[Principal, require("tenants", "read")]
TenantsUpdate = Annotated[Principal, require("tenants", "update")]
TenantsOffboard = Annotated[Principal, require("tenants", "offboard")]
TenantsExport = Annotated[Principal, require("tenants", "export")]
UsersRead = Annotated[Principal, require("users", "read")]
UsersInvite = Annotated[Principal, require("users", "invite")]
GrantsCreate = Annotated[Principal, require("grants", "create")]
GrantsDelete = Annotated[Principal, require("grants", "delete")]
ApiKeysRead = Annotated[Principal, require("api_keys", "read")]
ApiKeysCreate = Annotated[Principal, require("api_keys", "create")]
ApiKeysRevoke = Annotated[Principal, require("api_keys", "revoke")]
AuditRead = Annotated[Principal, require("audit", "read")]
AuditExport = Annotated[Principal, require("audit", "export")]
