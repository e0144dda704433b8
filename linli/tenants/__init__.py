"""Tenants, identity and access: onboarding, users, role grants, API keys, audit log access."""
