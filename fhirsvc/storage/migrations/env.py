"""Alembic environment: runs migrations on the configured URL with our engine set-up."""
from alembic import context

from fhirsvc.storage.dialect import make_engine, migration_options

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, **migration_options(connection))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
