"""The alert outbox's schema migrations (``<dialect>/NNNN_name.sql``), a series of its own recorded in
``alert_schema_migrations``, so the outbox can share the store's database or live in another one."""
