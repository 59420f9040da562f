"""SQL store: models, engine/session, migrations, queries, writes, seed and simulator."""
