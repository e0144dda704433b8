"""The JavaScript budgets of issue 11 and 13, on the built pages: a phone on a slow network loads
the console's or the app's first bytes quickly only if routes stay lazy and UI kits on demand."""

from __future__ import annotations

from bench.bundle import chunks, gzip_bytes

CONSOLE_INITIAL_GZIP = 350 * 1024
APP_INITIAL_GZIP = 200 * 1024


def test_the_consoles_initial_javascript_fits_its_budget() -> None:
    initial = chunks(["index.html"])
    assert all(f.suffix == ".js" for f in initial)
    assert gzip_bytes(initial) <= CONSOLE_INITIAL_GZIP


def test_the_resident_apps_initial_javascript_fits_its_budget() -> None:
    assert gzip_bytes(chunks(["app.html"])) <= APP_INITIAL_GZIP


def test_routes_are_not_in_the_initial_chunks() -> None:
    initial = {f.name for f in chunks(["index.html"])}
    views = {f.name for f in chunks(["src/console/views/LoginView.vue", "src/console/components/ShellLayout.vue"])}
    assert views - initial, "the sign-in page and the shell must load lazily, after the entry"
