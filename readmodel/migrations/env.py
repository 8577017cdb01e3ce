from alembic import context
from sqlalchemy import engine_from_config, event, pool
from sqlmodel import SQLModel

import readmodel.audit_models  # registers the audit table on SQLModel.metadata, as the next line the others
import readmodel.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from readmodel import text_grams

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    if connectable.dialect.name == "sqlite":
        # A migration that writes hazards fires the triggers that call them (migrations 0018, 0019).
        event.listen(connectable, "connect", text_grams.register)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
