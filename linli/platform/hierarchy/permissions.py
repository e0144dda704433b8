"""The permissions of the node tree's endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Principal, require

NodesRead = Annotated[Principal, require("nodes", "read")]
NodesCreate = Annotated[Principal, require("nodes", "create")]
NodesUpdate = Annotated[Principal, require("nodes", "update")]
NodesMove = Annotated[Principal, require("nodes", "move")]
NodesArchive = Annotated[Principal, require("nodes", "archive")]
