"""Alembic environment: uses the engine handed over by ``Database.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from certsvc.storage.models import Base

config = context.config
target_metadata = Base.metadata

engine = config.attributes.get("engine")
if engine is None:  # plain `alembic` command line, e.g. for `alembic revision --autogenerate`
    engine = create_engine(
        config.get_main_option("sqlalchemy.url") or "sqlite:///var/certsvc.sqlite3"
    )

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
    )
    with context.begin_transaction():
        context.run_migrations()
