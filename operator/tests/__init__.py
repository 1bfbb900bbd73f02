"""Operator tests. A package, so pytest names its modules ``tests.*``: under ``--import-mode=importlib`` a
top-level ``operator.*`` name would replace the standard library's ``operator`` module."""
