"""The permissions of sharing's endpoints, named once (see `access.require`)."""

from __future__ import annotations

from typing import Annotated

from linli.platform.access import Permission, Principal, require

SHARING_CREATE = Permission("sharing", "create")
SHARING_READ = Permission("sharing", "read")
SHARING_UPDATE = Permission("sharing", "update")
SHARING_BORROW = Permission("sharing", "borrow")

SharingCreate = Annotated[Principal, require(*SHARING_CREATE)]
SharingRead = Annotated[Principal, require(*SHARING_READ)]
SharingUpdate = Annotated[Principal, require(*SHARING_UPDATE)]
SharingBorrow = Annotated[Principal, require(*SHARING_BORROW)]
