"""The permissions of the care endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

CareRead = Annotated[Principal, require("care", "read")]
CareManage = Annotated[Principal, require("care", "manage")]
CareVisit = Annotated[Principal, require("care", "visit")]
