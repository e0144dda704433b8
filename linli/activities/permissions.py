"""The permissions of the activities endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

ActivitiesRead = Annotated[Principal, require("activities", "read")]
ActivitiesCreate = Annotated[Principal, require("activities", "create")]
ActivitiesUpdate = Annotated[Principal, require("activities", "update")]
ActivitiesSignup = Annotated[Principal, require("activities", "signup")]
ActivitiesCheckin = Annotated[Principal, require("activities", "checkin")]
