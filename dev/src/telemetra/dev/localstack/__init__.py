"""Real backing services for the local stack, the tests and the benchmarks, run as plain processes (no Docker):
Kafka (``kafka``), PostgreSQL (``postgres``) and Redis (``redis``), with their pytest fixtures
(``pytest_kafka``, ``pytest_services``), and the Maven resolution of the jars Kafka and Spark need."""
