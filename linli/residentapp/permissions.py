"""The permissions of the resident app's endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

# The resident's own side (home, reports, notifications) reuses the events' and services' permissions.
AppRead = Annotated[Principal, require("services", "read")]
ReportsCreate = Annotated[Principal, require("events", "create")]
ReportsRead = Annotated[Principal, require("events", "read")]
ReportsAttach = Annotated[Principal, require("events", "attach")]
ReportsRate = Annotated[Principal, require("events", "rate")]
ReportsTransition = Annotated[Principal, require("events", "transition")]

JoinRequestsRead = Annotated[Principal, require("join_requests", "read")]
JoinRequestsDecide = Annotated[Principal, require("join_requests", "decide")]

NoticesRead = Annotated[Principal, require("notices", "read")]
NoticesCreate = Annotated[Principal, require("notices", "create")]
NoticesUpdate = Annotated[Principal, require("notices", "update")]
NoticesPublish = Annotated[Principal, require("notices", "publish")]

FormsRead = Annotated[Principal, require("forms", "read")]
FormsUpdate = Annotated[Principal, require("forms", "update")]
FormCasesCreate = Annotated[Principal, require("form_cases", "create")]
FormCasesRead = Annotated[Principal, require("form_cases", "read")]
FormCasesAmend = Annotated[Principal, require("form_cases", "amend")]
FormCasesReview = Annotated[Principal, require("form_cases", "review")]
