"""The serving layer: storage and live-cache adapters, the sink the engine writes through, and the HTTP API.

Backends are chosen by URL (``sqlite:///…``/``postgresql://…`` for the store, ``memory://``/``redis://…`` for
the live cache); see :mod:`telemetra.services.settings`.
"""
