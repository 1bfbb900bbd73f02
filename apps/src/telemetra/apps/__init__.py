"""The composition roots: the programs that pick the implementations of the engine's ports (from settings and
URLs) and wire the layers together. Nothing below imports from here.

* :mod:`telemetra.apps.cli`: the ``telemetra`` command (produce, ingest, replay, backtest, demo);
* :mod:`telemetra.apps.demo`: the embedded platform in one process (``telemetra demo``);
* :mod:`telemetra.apps.spark_job`: a pool's (or one stream's) Spark job with the services' output (the job
  image's main).

The API service's own entry point, ``python -m telemetra.services``, needs nothing outside the services.
"""
