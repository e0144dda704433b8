"""How much JavaScript a page of the built front end (portal/dist) loads, read from Vite's manifest.

"Initial" is the page's entry chunk and every chunk it imports statically (what the browser fetches
before anything runs); "first screen" adds the lazily loaded chunks of the routes the user lands on."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

DIST = Path(__file__).resolve().parents[1] / "portal" / "dist"


def _manifest(dist: Path) -> dict[str, dict[str, object]]:
    path = dist / ".vite" / "manifest.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build the front end first (scripts/bootstrap)")
    loaded: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def chunks(keys: Iterable[str], dist: Path = DIST) -> list[Path]:
    """The files of the chunks named by manifest `keys` (e.g. "index.html", "src/console/x.vue") and of
    everything they import statically, each once."""
    manifest = _manifest(dist)
    seen: set[str] = set()
    pending = list(keys)
    while pending:
        key = pending.pop()
        if key in seen:
            continue
        if key not in manifest:
            raise KeyError(f"{key} is not in the front end's manifest")
        seen.add(key)
        pending.extend(str(k) for k in manifest[key].get("imports", []))  # type: ignore[union-attr]
    return sorted({dist / str(manifest[key]["file"]) for key in seen})


def gzip_bytes(files: Iterable[Path]) -> int:
    return sum(len(gzip.compress(f.read_bytes(), compresslevel=9)) for f in files)
