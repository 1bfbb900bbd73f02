"""Pure builders: a :class:`~telemetra.operator.stream.Stream` in, Kubernetes manifests (dicts) out."""
