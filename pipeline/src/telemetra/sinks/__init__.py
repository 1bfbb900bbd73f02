"""Where producers write: Kafka, the in-process bus, or a JSON Lines file, chosen by URL."""

from __future__ import annotations

from telemetra.sinks.base import DeliveryError, EventSink, RawEvent, SinkStats

__all__ = ["DeliveryError", "EventSink", "RawEvent", "SinkStats", "open_sink"]


def open_sink(url: str, *, overwrite: bool = False) -> EventSink:
    """``kafka://HOST:PORT[?topic=…]``, ``memory://[NAME]`` or ``file://PATH``; raises ``ValueError`` for a URL
    that cannot work, before anything is opened. A file is appended to unless ``overwrite``."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "kafka":
        from telemetra.sinks.kafka import KafkaSink

        return KafkaSink.from_url(url)
    if scheme == "memory":
        from telemetra.sinks.memory import MemorySink

        return MemorySink.from_url(url)
    if scheme == "file":
        from telemetra.sinks.file import FileSink

        return FileSink.from_url(url, overwrite=overwrite)
    raise ValueError(f"unsupported sink {url!r}: use kafka://HOST:PORT, memory:// or file://PATH")
