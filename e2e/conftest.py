"""The e2e journeys' fixtures: the Kubernetes tooling's (``helm_binary``), besides the root conftest's."""

pytest_plugins = ["telemetra.operator.localstack.pytest_plugin"]
