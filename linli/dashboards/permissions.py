"""The permissions of the dashboards' endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

KpisRead = Annotated[Principal, require("kpis", "read")]
