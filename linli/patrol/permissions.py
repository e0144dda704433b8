"""The permissions of the patrol endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

PatrolRead = Annotated[Principal, require("patrol", "read")]
PatrolCreate = Annotated[Principal, require("patrol", "create")]
PatrolCheckIn = Annotated[Principal, require("patrol", "checkin")]
