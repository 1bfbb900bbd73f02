pytest_plugins = ["telemetra.localstack.pytest_plugin"]
