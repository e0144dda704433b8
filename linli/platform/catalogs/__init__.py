"""The domain catalogs shipped with Linli (copied from the product's shared data)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).parent


@cache
def load(name: str) -> dict[str, Any]:
    """Load `districts`, `event_taxonomy`, `device_catalog`, `service_catalog` or `care_categories`."""
    with (CATALOG_DIR / f"{name}.yaml").open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data
