"""Real PostgreSQL and Redis servers as plain processes (no Docker) for the local stack and the tests."""
