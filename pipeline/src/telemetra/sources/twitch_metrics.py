"""Prometheus metrics of a Twitch ingester, per channel: read from the live counters at scrape time.

A collector rather than Counter objects: the reader's hot path only bumps plain integers, and a scrape turns
them into samples. Served on its own registry (``--metrics-port``), as the Spark job's metrics are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from telemetra.sources.twitch_chat import Channel, TwitchChat


class TwitchCollector(Collector):
    """``telemetra_twitch_*`` samples for every channel ``channels()`` returns, and the connection's own."""

    def __init__(self, chat: TwitchChat, channels: Callable[[], Sequence[Channel]]):
        self._chat, self._channels = chat, channels

    def collect(self) -> Iterator[Metric]:
        labels = ["stream_id", "channel"]
        lines = CounterMetricFamily("telemetra_twitch_lines", "IRC lines received, by channel", labels=labels)
        events = CounterMetricFamily(
            "telemetra_twitch_events", "Events forwarded, by channel and type", labels=[*labels, "type"]
        )
        ignored = CounterMetricFamily(
            "telemetra_twitch_ignored_lines",
            "Lines that produced no event, by channel and reason",
            labels=[*labels, "reason"],
        )
        reconnects = CounterMetricFamily(
            "telemetra_twitch_channel_reconnects", "Re-joins on a new connection, by channel", labels=labels
        )
        duplicates = CounterMetricFamily(
            "telemetra_twitch_duplicates", "Events seen on two connections, forwarded once", labels=labels
        )
        joined = GaugeMetricFamily(
            "telemetra_twitch_channel_joined", "1 once the channel was joined, 0 before", labels=labels
        )
        failed = GaugeMetricFamily(
            "telemetra_twitch_channel_failed", "1 if the channel cannot be read", labels=labels
        )
        for channel in self._channels():
            ids, stats = [channel.stream_id, channel.login], channel.stats
            lines.add_metric(ids, stats.messages)
            for event_type, count in dict(stats.event_types).items():  # a copy: the loop's thread adds keys
                events.add_metric([*ids, event_type], count)
            for reason, count in dict(stats.ignored).items():
                ignored.add_metric([*ids, reason], count)
            reconnects.add_metric(ids, stats.reconnects)
            duplicates.add_metric(ids, stats.duplicates)
            joined.add_metric(ids, 1 if channel.ever_joined else 0)
            failed.add_metric(ids, 1 if channel.error is not None else 0)
        yield from (lines, events, ignored, reconnects, duplicates, joined, failed)
        yield CounterMetricFamily(
            "telemetra_twitch_connection_reconnects",
            "New connections after the first",
            value=self._chat.stats.reconnects,
        )
        yield CounterMetricFamily(
            "telemetra_twitch_connection_lines",
            "Lines about no followed channel (welcome, PING, …)",
            value=self._chat.stats.messages,
        )


def serve_metrics(
    chat: TwitchChat, channels: Callable[[], Sequence[Channel]], port: int, host: str = "0.0.0.0"
) -> CollectorRegistry:
    """Serve ``/metrics`` on ``port`` in a background thread; returns the registry."""
    registry = CollectorRegistry()
    registry.register(TwitchCollector(chat, channels))
    start_http_server(port, addr=host, registry=registry)
    return registry
