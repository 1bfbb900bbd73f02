"""Real backing services for the local stack and integration tests, run as plain processes (no Docker)."""
