"""The floors of ARCHITECTURE.md, checked on the imports themselves (lazy imports inside functions
included): a module imports only from its own floor's package or from floors below."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "linli"

# Lower number = lower floor. A package may import its own package and any lower floor.
FLOORS: dict[str, int] = {
    "platform": 0,
    "tenants": 1,
    "iot": 1,
    "residents": 2,
    "events": 2,
    "services": 2,
    "dashboards": 3,
    "portal": 3,
    "residentapp": 3,
    "patrol": 3,
    "care": 3,
    "passes": 4,
    "votes": 4,
    "sharing": 4,
    "activities": 4,
    "bookings": 4,
    "points": 4,
    "cli": 5,
    "demo": 5,
    "wiring": 5,
    "__init__": 5,
}


# The kernel's two process entry points (the ASGI app factory, arq's WorkerSettings) ask the composition
# what to mount and run; that one arrow up is by design, and only to `linli.wiring`.
ENTRY_POINTS = {"linli/platform/app", "linli/platform/jobs"}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "linli" else None


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_every_import_points_to_the_same_floor_package_or_down() -> None:
    upward: list[str] = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        own = package_of(".".join(relative.parts))
        if own is None:
            continue
        assert own in FLOORS, f"{own} is on no floor: add it to ARCHITECTURE.md and FLOORS"
        for module in imports_of(path):
            target = package_of(module)
            if target is None or target == own or target not in FLOORS:
                continue
            if str(relative) in ENTRY_POINTS and target == "wiring":
                continue
            if FLOORS[target] >= FLOORS[own] and FLOORS[own] < max(FLOORS.values()):
                upward.append(f"{relative}: {module} ({own} -> {target})")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(set(upward)))
