"""Tests of the development tooling itself: the local servers, the local Kubernetes control plane, node and
image builds, the ``make stack`` launcher and the wheel. ``kube_cluster`` and ``helm_binary`` come from the
kube plugin; ``kafka_broker``/``kafka_bootstrap`` from the root ``conftest.py``."""

pytest_plugins = ["telemetra.dev.kube.pytest_plugin"]
