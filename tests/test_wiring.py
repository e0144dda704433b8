"""`linli/wiring.py` is the one place that says which domain listens to which hook: importing a domain
registers nothing, and wiring (again and again) fills each hook with exactly its listeners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from linli import wiring
from linli.activities import service as activities
from linli.care import service as care
from linli.events import intake, notifications, reading, routing
from linli.iot import alarms, devices
from linli.points import service as points
from linli.residentapp import forms
from linli.services import service as services
from linli.tenants import lifecycle
from linli.tenants import service as identity

ROOT = Path(__file__).resolve().parents[1]

# Imports every module of the domains (and the demo seeder), then prints what the hooks hold.
IMPORT_EVERY_DOMAIN = """
import importlib, pkgutil, sys
import linli
for package in ("tenants", "services", "residents", "portal", "iot", "events", "dashboards", "residentapp",
                "care", "patrol", "passes", "votes", "sharing", "activities", "bookings", "points"):
    root = importlib.import_module(f"linli.{package}")
    for info in pkgutil.walk_packages(root.__path__, f"linli.{package}."):
        importlib.import_module(info.name)
importlib.import_module("linli.demo")
from linli.iot.alarms import ALARM_OPENED_HANDLERS
from linli.events.intake import ALARM_CONTEXT
from linli.tenants.lifecycle import ONBOARDING_HOOKS
from linli.tenants.service import RESET_NOTIFIERS
from linli.activities.service import CHECKED_IN_HANDLERS
print(len(ONBOARDING_HOOKS), len(RESET_NOTIFIERS), len(ALARM_OPENED_HANDLERS) + len(CHECKED_IN_HANDLERS),
      len(ALARM_CONTEXT), "linli.wiring" in sys.modules)
"""


def test_importing_the_domains_registers_nothing() -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_DOMAIN], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0", "0", "0", "False"]


def test_wiring_fills_each_hook_with_exactly_its_listeners_once() -> None:
    wiring.wire()
    wiring.wire()  # every app the tests build wires again
    assert list(lifecycle.ONBOARDING_HOOKS) == [services.apply_defaults, routing.ensure_default_units]
    assert list(identity.RESET_NOTIFIERS) == [notifications.email_password_reset]
    assert list(alarms.ALARM_OPENED_HANDLERS) == [intake.on_alarm_opened]
    assert dict(lifecycle.TENANT_COUNTERS) == {"devices": devices.count_under, "open_events": reading.count_open_under}
    assert list(intake.ALARM_CONTEXT) == [care.sos_context]
    assert list(activities.CHECKED_IN_HANDLERS) == [points.on_checked_in]
    assert list(forms.CASE_APPROVED_HANDLERS) == [points.on_form_case_approved]
    assert [name for name, _ in wiring.DEMO_STEPS] == [
        "residents",
        "iot devices",
        "events",
        "resident app",
        "care",
        "passes",
        "votes",
        "sharing",
        "activities",
        "bookings",
        "points",
    ]


def test_the_worker_runs_the_jobs_the_wiring_lists() -> None:
    from linli.platform.jobs import WorkerSettings

    # The worker runs them wrapped (each counts its outcome), under the domain function's name.
    assert {f.__qualname__ for f in wiring.JOB_FUNCTIONS} < {f.__qualname__ for f in WorkerSettings.functions}
    assert [(c.name, c.coroutine.__qualname__) for c in WorkerSettings.cron_jobs] == [
        (c.name, c.coroutine.__qualname__) for c in wiring.CRON_JOBS
    ]
