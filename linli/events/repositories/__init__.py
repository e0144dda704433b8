"""Every query of the events domain, one repository per aggregate."""

from linli.events.repositories.catalog import CatalogRepository, Item
from linli.events.repositories.deadlines import DeadlineRepository
from linli.events.repositories.events import EventCriteria, EventRepository, Handling, merged_ref
from linli.events.repositories.kpis import EventKpiRepository
from linli.events.repositories.notifications import NotificationRepository, WebhookRepository
from linli.events.repositories.routing import HandlerUnitRepository, Route, RoutingRuleRepository

__all__ = [
    "CatalogRepository",
    "DeadlineRepository",
    "EventCriteria",
    "EventKpiRepository",
    "EventRepository",
    "HandlerUnitRepository",
    "Handling",
    "Item",
    "NotificationRepository",
    "Route",
    "RoutingRuleRepository",
    "WebhookRepository",
    "merged_ref",
]
