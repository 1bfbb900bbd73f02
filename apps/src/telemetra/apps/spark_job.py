"""A pool's (or one stream's) Spark job with the services' output: the store writer and the live publisher.

::

    python -m telemetra.apps.spark_job (--pool NAME | --stream-id ID) --kafka-bootstrap HOST:PORT \\
        --checkpoint-dir URI [--store-url postgresql://…] [--cache-url redis://…] [--trigger-interval 1s] …

The job (:mod:`telemetra.spark.job`) knows only the engine's output port; this root opens the services'
implementation from the job's store and cache URLs (the output's own tuning, such as its buffer limit, comes
from the service's ``TELEMETRA_*`` settings). Its moments are offered to alerting: the streams' alert configs
are read from the outbox (by default in the store's database; ``TELEMETRA_ALERTS_*``, see
:class:`~telemetra.services.alerts.AlertSettings`; ``TELEMETRA_ALERTS_ENABLED=false`` turns it off).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from telemetra.logs import configure_logging
from telemetra.services.alerts.settings import AlertSettings
from telemetra.services.output import open_output
from telemetra.services.settings import Settings
from telemetra.spark.job import run
from telemetra.spark.settings import JobSettings, parse_args


def output_settings(job: JobSettings) -> Settings:
    return Settings(store_url=job.store_url, cache_url=job.cache_url)


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    configure_logging(settings.log_level)
    # asyncpg logs every failed reconnect with a traceback; the output already reports an outage once
    logging.getLogger("asyncpg").setLevel(logging.ERROR)
    return run(settings, open_output(output_settings(settings), AlertSettings()))


if __name__ == "__main__":
    sys.exit(main())
