"""The stream listing with 10,000 streams: latency of ``GET /api/v1/streams`` pages (first and deep, with and
without ``q``) from a second process on loopback, and the plans PostgreSQL chooses for them.

The script starts what it needs: a PostgreSQL and a Redis of its own (``telemetra.dev.localstack``); writes
``--streams`` streams through ``ServiceOutput`` as the engine would (three closed windows each, viewers shaped
like a real directory: a few big channels and a long tail, many ties; a fifth of them live, the others last
seen in batches over the past day, so ``-last_activity`` has large ties too), their titles and categories, and a
provisional window of every live stream in Redis; then runs the API as a separate process
(``python -m telemetra.services``, one uvicorn worker) and asks each question ``--requests`` times in a closed
loop of ``--concurrency`` clients (after ``--warmup`` requests). Deep pages start from a cursor taken at about
90 % of the listing, by walking it with ``limit=1000``. Latency is from send to the last byte of the answer; the
CPU time the API process and PostgreSQL's backends spent per request (warm-up included) is reported with it, as
it does not depend on what else the machine runs.

Usage::

    .venv/bin/python bench/api_streams.py [--streams 10000] [--requests 300] [--concurrency 1 4] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from telemetra.dev.localstack.postgres import PostgresServer
from telemetra.dev.localstack.process import free_port
from telemetra.dev.localstack.redis import RedisServer
from telemetra.records import WindowMetrics, format_ts
from telemetra.services.cache import open_cache
from telemetra.services.output import ServiceOutput
from telemetra.services.storage import StreamPosition, StreamQuery, listing, open_store
from telemetra.services.storage.postgres import DIALECT

WORDS = ("Speedrun", "Ranked grind", "Just chatting", "Chess", "Elden Ring", "Minecraft hardcore", "Coding",
         "Lo-fi music", "Drawing", "Valorant", "Cooking", "Retro games", "Science", "Kart racing", "Poker")  # fmt: skip
CATEGORIES = ("Games", "IRL", "Music", "Art", "Science & Technology", "Sports", "Chess", "Food & Drink")
PAGE = 24  # the dashboard's page
LIVE_SHARE = 0.2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300, help="per question and concurrency")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plans of the page queries")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


# -- set-up ------------------------------------------------------------------------------------------------
def window(stream_id: str, start: float, viewers: int | None, chat_rate: float, final: bool) -> WindowMetrics:
    return WindowMetrics(
        stream_id=stream_id, window_start=format_ts(start), window_end=format_ts(start + 60), messages=10,
        chat_rate=chat_rate, unique_chatters=5, top_emotes=[{"emote": "Kappa", "count": 3}], sentiment=0.1,
        positive=4, neutral=4, negative=2, viewers=viewers, viewers_max=viewers, revenue_usd=0.0,
        transactions={}, late_events=0, bits=0, emote_total=3, final=final,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Stream:
    stream_id: str
    title: str
    category: str
    viewers: int | None
    live: bool
    seen_at: float


def directory(count: int, rng: random.Random, now: float) -> list[Stream]:
    """Zipf-shaped viewers over shuffled ranks (rounded, so many streams tie), some without a sample."""
    ranks = list(range(count))
    rng.shuffle(ranks)
    streams = []
    for n, rank in enumerate(ranks):
        viewers = None if rng.random() < 0.05 else round(80_000 / (rank + 1) ** 1.1)
        live = rng.random() < LIVE_SHARE
        batch = n // 200  # offline streams were last seen in batches: ties in last_activity
        seen_at = now if live else now - 3600 - batch * 1700.0
        title = f"{rng.choice(WORDS)} with {rng.choice(('friends', 'viewers', 'chat', 'no commentary'))} #{n}"
        streams.append(Stream(f"stream-{n:05d}", title, rng.choice(CATEGORIES), viewers, live, seen_at))
    return streams


async def populate(store_url: str, cache_url: str, namespace: str, streams: list[Stream]) -> None:
    store = open_store(store_url)
    cache = open_cache(cache_url, namespace=namespace)
    await store.start()
    await cache.start()
    try:
        by_time: dict[float, list[Stream]] = {}
        for stream in streams:
            by_time.setdefault(stream.seen_at, []).append(stream)
        for seen_at, group in by_time.items():
            sink = ServiceOutput(store, cache, clock=functools.partial(float, seen_at))
            start = (seen_at // 10) * 10 - 90
            windows = [
                window(s.stream_id, start + 10 * i, s.viewers, (s.viewers or 0) / 100 + i, final=True)
                for s in group
                for i in range(3)
            ]
            await sink.write_windows(windows)
            live = [window(s.stream_id, start + 30, s.viewers, 1.0, final=False) for s in group if s.live]
            await sink.publish_live(live)
            await sink.close()
        for stream in streams:
            await store.set_stream_meta(stream.stream_id, stream.title, stream.category)
    finally:
        await cache.close()
        await store.close()


def start_api(
    store_url: str, cache_url: str, namespace: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELEMETRA_STORE_URL": store_url,
        "TELEMETRA_CACHE_URL": cache_url,
        "TELEMETRA_CACHE_NAMESPACE": namespace,
        "TELEMETRA_PORT": str(port),
        "TELEMETRA_ACCESS_LOG": "false",
        "TELEMETRA_RATE_LIMIT_PER_S": "0",  # every request comes from one address here
        "TELEMETRA_LIVE_AFTER_S": "3000",  # the live fifth stays live however long the set-up takes
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "telemetra.services"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the API did not become ready; see {log}")


# -- questions ---------------------------------------------------------------------------------------------
def total(client: httpx.Client, params: dict[str, Any]) -> int:
    count: int = client.get("/api/v1/streams", params={**params, "limit": 1}).json()["total"]
    return count


def deep_cursor(client: httpx.Client, params: dict[str, Any], share: float = 0.9) -> tuple[str, int]:
    """The cursor at about ``share`` of the listing (walked with pages of 1,000), and that position."""
    target, seen, cursor = int(total(client, params) * share), 0, None
    while seen < target:
        step = min(1000, target - seen)
        page = client.get(
            "/api/v1/streams", params={**params, "limit": step, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is not None, "the listing is shorter than expected"
    return cursor, seen


def questions(client: httpx.Client, rare: str) -> list[tuple[str, dict[str, Any]]]:
    viewers = {"sort": "-viewers", "limit": PAGE}
    chess = {**viewers, "q": "chess"}
    deep, at = deep_cursor(client, {"sort": "-viewers"})
    deep_chess, at_chess = deep_cursor(client, {"sort": "-viewers", "q": "chess"})
    deep_id, _ = deep_cursor(client, {"sort": "stream_id"})
    deep_activity, _ = deep_cursor(client, {"sort": "-last_activity"})
    matches = total(client, {"q": "chess"})
    assert total(client, {"q": rare}) == 1
    return [
        ("first page, `sort=-viewers` (the overview's)", viewers),
        (f"deep page (after {at:,}), `sort=-viewers`", {**viewers, "cursor": deep}),
        (f"first page, `q=chess` ({matches:,} matches)", chess),
        (f"deep page (after {at_chess:,}), `q=chess`", {**chess, "cursor": deep_chess}),
        (f"first page, `q={rare}` (one match)", {**viewers, "q": rare}),
        ("first page, `q=zzz` (no match)", {**viewers, "q": "zzz"}),
        ("first page, defaults (`sort=stream_id`, `limit=100`)", {}),
        ("deep page, `sort=stream_id`", {"sort": "stream_id", "limit": PAGE, "cursor": deep_id}),
        ("deep page, `sort=-last_activity` (ties of 200)", {"sort": "-last_activity", "limit": PAGE,
                                                            "cursor": deep_activity}),
    ]  # fmt: skip


async def measure(port: int, params: dict[str, Any], requests: int, warmup: int, clients: int) -> list[float]:
    latencies: list[float] = []
    remaining = warmup + requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                counted = remaining < requests
                started = time.perf_counter()
                answer = await client.get("/api/v1/streams", params=params)
                await answer.aread()
                elapsed = time.perf_counter() - started
                assert answer.status_code == 200, answer.text[:300]
                if counted:
                    latencies.append(elapsed)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 if it has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(api_pid: int, postgres_pid: int) -> tuple[float, float]:
    """CPU seconds so far of the API, and of PostgreSQL's backends (the postmaster's children)."""
    backends = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postgres_pid:
                    backends += cpu_seconds(int(entry.name))
    return cpu_seconds(api_pid), backends


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def row(name: str, clients: int, latencies: list[float], cpu_per_request: tuple[float, float]) -> str:
    stats = [percentile(latencies, q) for q in (0.5, 0.9, 0.99)] + [max(latencies), *cpu_per_request]
    return f"| {name} | {clients} | " + " | ".join(f"{v * 1000:.1f}" for v in stats) + " |"


# -- plans -------------------------------------------------------------------------------------------------
async def explain(store_url: str, positions: dict[str, StreamPosition]) -> None:
    connection = await asyncpg.connect(store_url)
    try:
        for name, query in {
            "deep -viewers": StreamQuery(sort="-viewers", limit=PAGE, after=positions["-viewers"]),
            "deep -viewers q=chess": StreamQuery(
                sort="-viewers", limit=PAGE, search="chess", after=positions["-viewers"]
            ),
            "count q=chess": StreamQuery(search="chess"),
        }.items():
            sql, args = (listing.count_sql if name.startswith("count") else listing.page_sql)(DIALECT, query)
            plan = await connection.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", *args)
            print(f"\n-- {name}\n" + "\n".join(r[0] for r in plan))
    finally:
        await connection.close()


def position_of(cursor_text: str) -> StreamPosition:
    from telemetra.services import cursor

    key, stream_id = cursor.decode(cursor_text, "streams:-viewers")
    return StreamPosition(key, stream_id)


# -- main --------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="telemetra-bench-streams-"))
    postgres, redis = PostgresServer(), RedisServer()
    api = None
    try:
        postgres.start()
        redis.start()
        store_url, cache_url = postgres.create_database("bench"), redis.url()
        namespace = f"bench{uuid.uuid4().hex[:8]}"
        streams = directory(args.streams, rng, time.time())
        started = time.monotonic()
        asyncio.run(populate(store_url, cache_url, namespace, streams))
        print(f"wrote {len(streams):,} streams ({sum(s.live for s in streams):,} live) in "
              f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        port = free_port()
        api = start_api(store_url, cache_url, namespace, port, work / "api.log")
        rare = streams[len(streams) // 2].stream_id.split("-")[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            asked = questions(client, rare)
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print(
            "| question | clients | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | API CPU/req (ms) | PG CPU/req (ms) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        assert postgres.pid is not None
        for clients in args.concurrency:
            for name, params in asked:
                before = server_cpu(api.pid, postgres.pid)
                latencies = asyncio.run(measure(port, params, args.requests, args.warmup, clients))
                after = server_cpu(api.pid, postgres.pid)
                sent = args.requests + args.warmup
                cpu = ((after[0] - before[0]) / sent, (after[1] - before[1]) / sent)
                print(row(name, clients, latencies, cpu), flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        if args.explain:
            asyncio.run(explain(store_url, {"-viewers": position_of(asked[1][1]["cursor"])}))
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        redis.cleanup()
        postgres.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
