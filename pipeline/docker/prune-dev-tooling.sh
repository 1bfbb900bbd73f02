#!/bin/sh
# Remove the test tooling that ships inside the telemetra package from an installed copy, so the images carry
# no test helpers, pytest plugins or local Kubernetes control plane (with its ~43k lines of upstream CRDs).
# The product never imports them (charts/tests/test_dockerfiles.py checks); `rm` without -f fails the build if
# one of them moves, so this list cannot go stale silently.
#   prune-dev-tooling.sh SITE_PACKAGES
set -eu
cd "$1/telemetra"
rm -r operator/localstack localstack/pytest_plugin.py services/localstack/pytest_plugin.py \
    operator/testing.py services/testing.py spark/testing.py
