"""Shared kernel: settings, database, access, hierarchy, audit, jobs, errors, the app factory."""
