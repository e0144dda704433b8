"""The domain catalogs shipped with Linli (copied from the product's shared data)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG_DIR = Path(__file__).parent
BOOL_TAG = "tag:yaml.org,2002:bool"


class CatalogLoader(yaml.SafeLoader):
    """Booleans are only true and false: YAML 1.1 also reads on/off/yes/no as booleans, which turned
    the command argument `on` into the key True."""


CatalogLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
CatalogLoader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@cache
def load(name: str) -> dict[str, Any]:
    """Load `districts`, `event_taxonomy`, `device_catalog`, `service_catalog` or `care_categories`."""
    with (CATALOG_DIR / f"{name}.yaml").open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.load(fh, Loader=CatalogLoader)
    return data
