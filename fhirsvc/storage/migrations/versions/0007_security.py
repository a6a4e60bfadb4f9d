"""Security: SMART clients, used client-assertion jti, the append-only audit trail.

Revision ID: 0007
Revises: 0004

Mirrors auth_clients, auth_used_jti and audit_events in fhirsvc/storage/tables.py. The audit
table refuses UPDATE and DELETE in the database itself (triggers), whatever code runs.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "auth_clients",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("jwks", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("client_class", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "auth_used_jti",
        sa.Column("client_id", sa.String(200), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_auth_used_jti_expires", "auth_used_jti", ["expires"])
    op.create_table(
        "audit_events",
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        sa.Column("recorded", sa.BigInteger, nullable=False),
        sa.Column("door", sa.String(32), nullable=False),
        sa.Column("interaction", sa.String(64), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("client_id", sa.String(200), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("patient", sa.String(64), nullable=True),
        sa.Column("resource_type", sa.String(64), nullable=True),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("query", sa.Text, nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_audit_events_recorded", "audit_events", ["recorded"])
    op.create_index("ix_audit_events_entity", "audit_events", ["resource_type", "resource_id"])
    op.create_index("ix_audit_events_client", "audit_events", ["client_id", "recorded"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
            FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events
                BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_table("audit_events")
    op.drop_table("auth_used_jti")
    op.drop_table("auth_clients")
