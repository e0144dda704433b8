"""The permissions the events endpoints require, one named dependency each (`require` also narrows the
request's row-level scope to the grants carrying the permission)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, checked, require

EventsRead = Annotated[Principal, require("events", "read")]
EventsCreate = Annotated[Principal, require("events", "create")]
EventsTransition = Annotated[Principal, require("events", "transition")]
EventsAttach = Annotated[Principal, require("events", "attach")]
EventsRate = Annotated[Principal, require("events", "rate")]
KpisRead = Annotated[Principal, require("kpis", "read")]
HandlersRead = Annotated[Principal, require("handlers", "read")]
HandlersCreate = Annotated[Principal, require("handlers", "create")]
HandlersUpdate = Annotated[Principal, require("handlers", "update")]
HandlersDelete = Annotated[Principal, require("handlers", "delete")]
RoutingRead = Annotated[Principal, require("routing", "read")]
RoutingCreate = Annotated[Principal, require("routing", "create")]
RoutingDelete = Annotated[Principal, require("routing", "delete")]
# Staff: those who may hand an event to a unit are the staff of the events there (checked by the lifecycle).
EVENTS_DISPATCH = checked("events", "dispatch")
