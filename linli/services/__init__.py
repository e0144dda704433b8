"""Resident-app services: the catalog each tenant switches on, orders, renames and brands."""
