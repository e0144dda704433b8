"""The permissions of the votes' endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Permission, Principal, require

VOTES_CREATE = Permission("votes", "create")
VOTES_READ = Permission("votes", "read")
VOTES_UPDATE = Permission("votes", "update")
VOTES_CAST = Permission("votes", "cast")

VotesCreate = Annotated[Principal, require(*VOTES_CREATE)]
VotesRead = Annotated[Principal, require(*VOTES_READ)]
VotesUpdate = Annotated[Principal, require(*VOTES_UPDATE)]
VotesCast = Annotated[Principal, require(*VOTES_CAST)]
