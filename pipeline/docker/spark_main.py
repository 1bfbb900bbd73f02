"""Main application file of the Spark job image (``local:///opt/telemetra/spark_main.py``).

spark-submit runs a *file*, not a module, so this shim is what SparkApplications name; everything else lives
in the installed package (``python -m telemetra.apps.spark_job`` runs the same code locally).
"""

from telemetra.apps.spark_job import main

if __name__ == "__main__":
    raise SystemExit(main())
