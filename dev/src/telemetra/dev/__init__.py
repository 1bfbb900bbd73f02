"""Development and test tooling: local servers (``localstack``), the local Kubernetes control plane, node and
image builds (``kube``), test helpers (``testing``) and the ``make stack`` launcher (``stack``).

It lives in its own source root (``dev/src``), which the editable install puts on the path and the wheel
leaves out: product code never imports ``telemetra.dev`` (``dev/tests/test_wheel.py`` checks the wheel)."""
