"""Devices keep a hash of their MQTT password, for brokers that ask Linli who may connect.

Revision ID: 0018
Revises: 0017

With `LINLI_MQTT_AUTH_BACKEND=http` the broker (EMQX, VerneMQ) calls Linli's broker-auth endpoints
instead of holding the device logins itself, so Linli must be able to check a password: registration
stores its SHA-256 (the password is a random 18-byte secret, so a fast hash is as safe as a slow one and
keeps a broker's reconnect storm cheap). Devices registered before have no hash and are refused by
that backend until they are registered again.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table devices add column mqtt_password_hash varchar(64)")


def downgrade() -> None:
    op.execute("alter table devices drop column mqtt_password_hash")
