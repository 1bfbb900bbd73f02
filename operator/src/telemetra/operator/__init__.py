"""The TelemetraStream operator: one custom resource per stream, turned into Kafka topics, a producer,
a Spark Structured Streaming job and a Grafana dashboard (kopf handlers over pure builders)."""
