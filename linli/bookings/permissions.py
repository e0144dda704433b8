"""The permissions of the bookings endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

BookingsRead = Annotated[Principal, require("bookings", "read")]
BookingsCreate = Annotated[Principal, require("bookings", "create")]
BookingsCancel = Annotated[Principal, require("bookings", "cancel")]
BookingsManage = Annotated[Principal, require("bookings", "manage")]
