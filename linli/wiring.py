"""How the application is composed, in one place: the routers the app mounts, the jobs the worker runs,
which domain listens to which kernel hook, and the demo's steps in their order.

The kernel and the tenants package define the hooks (empty lists); the domains define the callables;
only this module connects them, and importing a domain registers nothing. Every entry point calls
`wire()`: the app factory, the worker settings, the demo seeder and the CLI (so `linli ingest`, which
opens alarms, raises their events too). A new domain adds its routers, jobs, listeners and demo step here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.cron import CronJob
from fastapi import APIRouter

from linli.activities import api as activities_api
from linli.activities import demo as activities_demo
from linli.activities import jobs as activities_jobs
from linli.activities import service as activities_service
from linli.bookings import api as bookings_api
from linli.bookings import demo as bookings_demo
from linli.bookings import jobs as bookings_jobs
from linli.care import api as care_api
from linli.care import demo as care_demo
from linli.care import jobs as care_jobs
from linli.care import service as care_service
from linli.dashboards import api as dashboards_api
from linli.demo import DemoStep
from linli.events import api as events_api
from linli.events import demo as events_demo
from linli.events import intake as events_intake
from linli.events import jobs as events_jobs
from linli.events import notifications as events_notifications
from linli.events import open311 as events_open311
from linli.events import reading as events_reading
from linli.events import routing as events_routing
from linli.iot import alarms as iot_alarms
from linli.iot import api as iot_api
from linli.iot import devices as iot_devices
from linli.iot import jobs as iot_jobs
from linli.iot import simulate as iot_simulate
from linli.iot.brokerauth import api as iot_brokerauth
from linli.passes import api as passes_api
from linli.passes import demo as passes_demo
from linli.patrol import api as patrol_api
from linli.patrol import jobs as patrol_jobs
from linli.platform.hierarchy import api as hierarchy_api
from linli.points import api as points_api
from linli.points import demo as points_demo
from linli.points import service as points_service
from linli.portal import api as portal_api
from linli.residentapp import api as residentapp_api
from linli.residentapp import demo as residentapp_demo
from linli.residentapp import forms as residentapp_forms
from linli.residentapp import forms_api as residentapp_forms_api
from linli.residents import api as residents_api
from linli.residents import jobs as residents_jobs
from linli.residents import seed as residents_seed
from linli.services import api as services_api
from linli.services import service as services_service
from linli.sharing import api as sharing_api
from linli.sharing import demo as sharing_demo
from linli.sharing import jobs as sharing_jobs
from linli.tenants import api as tenants_api
from linli.tenants import jobs as tenants_jobs
from linli.tenants import lifecycle as tenants_lifecycle
from linli.tenants import service as tenants_identity
from linli.votes import api as votes_api
from linli.votes import demo as votes_demo

# Mounted in this order (after the health endpoints), each with the common error responses.
ROUTERS: tuple[APIRouter, ...] = (
    hierarchy_api.router,
    tenants_api.auth_router,
    tenants_api.router,
    services_api.app_router,
    services_api.router,
    services_api.catalog_router,
    residents_api.router,
    portal_api.portal_router,
    iot_api.ingest_router,
    iot_api.router,
    iot_brokerauth.router,
    events_api.router,
    residentapp_api.app_router,
    residentapp_api.router,
    residentapp_forms_api.app_router,
    residentapp_forms_api.router,
    residentapp_api.manifest_router,
    patrol_api.router,
    passes_api.app_router,
    passes_api.router,
    votes_api.app_router,
    votes_api.router,
    sharing_api.app_router,
    sharing_api.router,
    events_open311.open311_router,
    dashboards_api.router,
    care_api.router,
    points_api.app_router,
    points_api.router,
    activities_api.app_router,
    activities_api.router,
    bookings_api.app_router,
    bookings_api.router,
)

# The worker's job functions and cron jobs (each domain's `jobs` module declares its own and their schedules).
JOB_FUNCTIONS: tuple[Callable[..., Awaitable[Any]], ...] = (
    *tenants_jobs.JOBS,
    *iot_jobs.JOBS,
    *events_jobs.JOBS,
    *residents_jobs.JOBS,
    *patrol_jobs.JOBS,
    *care_jobs.JOBS,
    *sharing_jobs.JOBS,
    *activities_jobs.JOBS,
    *bookings_jobs.JOBS,
)
CRON_JOBS: tuple[CronJob, ...] = (
    *tenants_jobs.CRON,
    *iot_jobs.CRON,
    *events_jobs.CRON,
    *patrol_jobs.CRON,
    *care_jobs.CRON,
    *sharing_jobs.CRON,
    *activities_jobs.CRON,
    *bookings_jobs.CRON,
)

# `linli seed demo` runs these after the tree, catalogs, tenants and accounts, each in its own transaction.
DEMO_STEPS: tuple[tuple[str, DemoStep], ...] = (
    ("residents", residents_seed.demo_step),
    ("iot devices", iot_simulate.seed_demo_devices),
    ("events", events_demo.seed_events_demo),
    ("resident app", residentapp_demo.seed_resident_app_demo),
    ("care", care_demo.seed_care_demo),
    ("passes", passes_demo.seed_passes_demo),
    ("votes", votes_demo.seed_votes_demo),
    ("sharing", sharing_demo.seed_sharing_demo),
    ("activities", activities_demo.seed_activities_demo),
    ("bookings", bookings_demo.seed_bookings_demo),
    ("points", points_demo.seed_points_demo),
)


def wire() -> None:
    """Connect the domains to the hooks they listen to. Idempotent: it sets each registry's contents (the
    tests build the app many times; nothing may be registered twice)."""
    # A new tenant gets the resident-app service catalog and its default event handler units.
    tenants_lifecycle.ONBOARDING_HOOKS[:] = [services_service.apply_defaults, events_routing.ensure_default_units]
    # The tenant list counts each tenant's devices and open events.
    tenants_lifecycle.TENANT_COUNTERS.clear()
    tenants_lifecycle.TENANT_COUNTERS.update(
        devices=iot_devices.count_under, open_events=events_reading.count_open_under
    )
    # Password-reset links go out by e-mail.
    tenants_identity.RESET_NOTIFIERS[:] = [events_notifications.email_password_reset]
    # An opened IoT alarm raises its event, inside the transaction that opens the alarm.
    iot_alarms.ALARM_OPENED_HANDLERS[:] = [events_intake.on_alarm_opened]
    # An SOS band's alarm names the cared-for person who wears it (and their household) on its event.
    events_intake.ALARM_CONTEXT[:] = [care_service.sos_context]
    # An activity check-in earns the tenant's check-in and volunteer-hour points.
    activities_service.CHECKED_IN_HANDLERS[:] = [points_service.on_checked_in]
    # An approved recycling-bank drop-off (the `prop_garbage_bank` form) earns the tenant's recycling points.
    residentapp_forms.CASE_APPROVED_HANDLERS[:] = [points_service.on_form_case_approved]
