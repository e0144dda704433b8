"""The permissions of the registry's endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

ResidentsRead = Annotated[Principal, require("residents", "read")]
ResidentsExport = Annotated[Principal, require("residents", "export")]
ResidentsCreate = Annotated[Principal, require("residents", "create")]
ResidentsUpdate = Annotated[Principal, require("residents", "update")]
