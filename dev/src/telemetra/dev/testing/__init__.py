"""Test and benchmark helpers of each part: ``spark`` (the Spark job), ``services`` (the API) and ``operator``
(the TelemetraStream operator)."""
