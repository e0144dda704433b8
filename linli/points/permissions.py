"""The permissions of the points endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

PointsRead = Annotated[Principal, require("points", "read")]
PointsRedeem = Annotated[Principal, require("points", "redeem")]
PointsManage = Annotated[Principal, require("points", "manage")]
