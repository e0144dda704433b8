"""Masking of personal data for roles that do not need to see it in full."""

from __future__ import annotations

from collections.abc import Iterable

# Roles whose work needs full personal data (registry staff and administrators). Everyone else
# (grid workers, property managers, auditors, residents, machine clients) sees it masked.
FULL_VIEW_ROLES = frozenset({"community_staff", "community_admin", "street_admin", "district_admin"})


def sees_full(roles: Iterable[str]) -> bool:
    return any(role in FULL_VIEW_ROLES for role in roles)


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧**娜: the first and (for three or more characters) the last stay."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str | None:
    """13800000001 → 138****0001."""
    if phone is None:
        return None
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


def mask_id_number(value: str | None) -> str | None:
    """510107199001011234 → 510***********1234."""
    if value is None:
        return None
    if len(value) >= 8:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return "*" * len(value)
