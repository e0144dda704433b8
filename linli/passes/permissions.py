"""The permissions of the passes' endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Permission, Principal, require

PASSES_CREATE = Permission("passes", "create")
PASSES_READ = Permission("passes", "read")
PASSES_REVOKE = Permission("passes", "revoke")
PASSES_VERIFY = Permission("passes", "verify")

PassesCreate = Annotated[Principal, require(*PASSES_CREATE)]
PassesRead = Annotated[Principal, require(*PASSES_READ)]
PassesRevoke = Annotated[Principal, require(*PASSES_REVOKE)]
PassesVerify = Annotated[Principal, require(*PASSES_VERIFY)]
