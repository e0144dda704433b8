"""Alembic environment: connects as a cluster superuser, then builds every object as `linli_owner`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from linli.platform.db import store_scope_key
from linli.platform.settings import get_settings

config = context.config
url = config.attributes.get("url") or get_settings().migrate_database_url


def run_migrations_online() -> None:
    engine = create_engine(url, hide_parameters=True)  # no personal data in error messages
    with engine.connect() as connection:
        # Once 0001 has given linli_owner this database's schema, everything is built as that role.
        owner_ready = connection.execute(
            text(
                "select exists (select 1 from pg_roles where rolname = 'linli_owner') "
                "and has_schema_privilege('linli_owner', 'public', 'CREATE')"
            )
        ).scalar()
        if owner_ready:
            connection.execute(text("set role linli_owner"))
        connection.commit()
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
        store_scope_key(connection)
        connection.commit()
    engine.dispose()


run_migrations_online()
