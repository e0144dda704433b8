"""The permissions of the resident-app services' endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

ServicesRead = Annotated[Principal, require("services", "read")]
ServicesUpdate = Annotated[Principal, require("services", "update")]
