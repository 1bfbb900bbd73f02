"""Can one ``telemetra ingest twitch`` process read 100 channels of real-format chat at their combined rate?

Runs the local replaying Twitch chat server (:mod:`telemetra.dev.twitch_chat`) in this process: every channel
joined gets its own shuffled mix of real-format lines (chat with emotes, cheers, subs, gifts, raids, bans,
deleted messages; pipeline/tests/sources/data/twitch_irc.txt) at its own rate, drawn from ``--rate`` (default
5–20 lines/s). Then runs the real command as a child process::

    python -m telemetra.apps.cli ingest twitch --channels-file F --url URL --sink file://…/events.jsonl

It waits until every channel is joined (at Twitch's 20 JOINs per 10 s that takes ~45 s for 100), lets it warm
up, and measures over ``--duration`` seconds: the ingester's CPU (user + system from ``/proc/PID/stat``, as a
share of one core), its RSS (sampled every second; and the peak, ``VmHWM``), lines/s and events/s. Then the
server stops playing, PINGs the client and waits for its PONG (so every line sent was handled), and the
ingester is stopped with SIGTERM. **Lines lost** = lines the server sent − lines the ingester counted for the
channels (less the JOIN echo and ROOMSTATE of each join); it must be 0, and the events on disk must equal the
events the ingester says it forwarded. Writes a Markdown report (``--out``)::

    .venv/bin/python bench/twitch_ingest.py [--channels 100] [--rate 5-20] [--duration 60] [--warmup 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from telemetra.dev.twitch_chat import ReplayServer

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RESULTS = Path(__file__).parent / "results" / "twitch_ingest.md"
RSS_LIMIT_MB = 200.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=100, help="channels read by the one process (100)")
    parser.add_argument("--rate", default="5-20", help="lines/s per channel, N or LOW-HIGH (default 5-20)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured (default 60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the joins (default 10)")
    parser.add_argument("--join-limit", default="20/10", help="the command's --join-limit (default 20/10)")
    parser.add_argument(
        "--reconnect", action="store_true", help="send RECONNECT when the measured window starts"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"report (default {RESULTS})")
    return parser.parse_args(argv)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_mb(pid: int) -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    low, _, high = args.rate.partition("-")
    server = ReplayServer(rate=(float(low), float(high or low)))
    url = await server.start()
    channels = [f"chan{n:03d}" for n in range(args.channels)]
    workdir = Path(tempfile.mkdtemp(prefix="telemetra-twitch-bench-"))
    (workdir / "channels.txt").write_text("".join(f"{channel}\n" for channel in channels))
    events_path = workdir / "events.jsonl"
    command = [
        sys.executable, "-m", "telemetra.apps.cli", "ingest", "twitch", "--channels-file",
        str(workdir / "channels.txt"), "--url", url, "--sink", f"file://{events_path}", "--overwrite",
        "--join-limit", args.join_limit, "--log-interval", "30",
    ]  # fmt: skip
    log_path = workdir / "ingest.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(*command, stderr=log_file)
    try:
        result = await measure(args, server, process.pid, channels)
        server.playing = False
        await asyncio.wait_for(server.sync(), 30)  # every line sent was handled
        process.send_signal(signal.SIGTERM)
        result["exit_code"] = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
        await server.close()
    log = [orjson.loads(line) for line in log_path.read_bytes().splitlines() if line.startswith(b"{")]
    result.update(account(server, log, events_path))
    shutil.rmtree(workdir)
    result["command"] = " ".join(["python", *command[1:]]).replace(str(workdir), "$TMP").replace(url, "URL")
    return result


async def measure(
    args: argparse.Namespace, server: ReplayServer, pid: int, channels: list[str]
) -> dict[str, Any]:
    began = time.monotonic()
    while len(server.joined()) < len(channels):
        if time.monotonic() - began > 600:
            raise RuntimeError(f"only {len(server.joined())} of {len(channels)} channels joined in 600 s")
        await asyncio.sleep(0.5)
    joined_after = time.monotonic() - began
    await asyncio.sleep(args.warmup)
    load_before = os.getloadavg()
    cpu0, sent0, wall0 = cpu_seconds(pid), sum(server.sent.values()), time.monotonic()
    if args.reconnect:  # the client must join all channels anew (at the JOIN limit) while the old one reads
        await server.reconnect_all()
    rss: list[float] = []
    while time.monotonic() - wall0 < args.duration:
        await asyncio.sleep(1.0)
        rss.append(memory_mb(pid)["VmRSS"])
    cpu1, sent1, wall1 = cpu_seconds(pid), sum(server.sent.values()), time.monotonic()
    elapsed = wall1 - wall0
    return {
        "joined_after_s": round(joined_after, 1),
        "cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "rss_mb_mean": round(sum(rss) / len(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "rss_mb_peak": round(memory_mb(pid)["VmHWM"], 1),
        "lines_per_s": round((sent1 - sent0) / elapsed, 1),
        "measured_s": round(elapsed, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "rates": {c: round(server.rate_of(c), 1) for c in channels},
    }


def account(server: ReplayServer, log: list[dict[str, Any]], events_path: Path) -> dict[str, Any]:
    """Lines lost and events written, from the server's counts, the command's last log line and the file."""
    (stopped,) = [entry for entry in log if entry["msg"] == "twitch stopped"]
    counters = stopped["channels"]
    joins = {channel: 1 + counters[channel]["reconnects"] for channel in counters}
    received = {channel: counters[channel]["lines"] - 2 * joins[channel] for channel in counters}
    lost = {
        c: server.sent.get(c, 0) - received.get(c, 0)
        for c in server.sent
        if server.sent[c] != received.get(c)
    }
    forwarded = sum(counters[channel]["events"] for channel in counters)
    on_disk = Counter(orjson.loads(line)["type"] for line in events_path.read_bytes().splitlines())
    event_types: Counter[str] = Counter()
    for channel in counters.values():
        event_types.update(channel["event_types"])
    total_lines = sum(server.sent.values())
    return {
        "lines_sent": total_lines,
        "lines_lost": sum(lost.values()),
        "lost_by_channel": lost,
        "events_forwarded": forwarded,
        "events_on_disk": sum(on_disk.values()),
        "event_types": dict(event_types),
        "events_per_line": round(forwarded / max(total_lines, 1), 3),
        "reconnects": stopped["reconnects"],
        "parse_errors": stopped["parse_errors"] + sum(c["parse_errors"] for c in counters.values()),
        "errors_logged": [entry["msg"] for entry in log if entry["level"] in ("error", "critical")],
    }


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    rates = list(result["rates"].values())
    events_per_s = result["lines_per_s"] * result["events_per_line"]
    ok = (
        result["lines_lost"] == 0
        and result["events_on_disk"] == result["events_forwarded"]
        and result["rss_mb_peak"] < RSS_LIMIT_MB
        and result["exit_code"] == 0
        and not result["errors_logged"]
    )
    joined = f"{result['joined_after_s']} s after start, at `--join-limit {args.join_limit}`"
    rss = f"{result['rss_mb_mean']} / {result['rss_mb_max']} MB; {result['rss_mb_peak']} MB"
    reconnect = (
        "\n- `--reconnect`: the server sent RECONNECT as the measured window began; the client joined every channel on"
        " a new connection (at the JOIN limit) while the old one kept reading, then closed the old one."
        if args.reconnect
        else ""
    )
    troubles = f"{result['reconnects']}, {result['parse_errors']}, {len(result['errors_logged'])}"
    return f"""# Twitch ingest: {args.channels} channels of real-format chat in one process

`telemetra ingest twitch` reads many channels over **one** IRC-over-WebSocket connection. Target (issue 16):
one process handles 100 channels of replayed real chat at their combined rate with **< {RSS_LIMIT_MB:.0f} MB RSS**,
losing no line.

**Result: {"met" if ok else "NOT met"}.** {args.channels} channels at {min(rates):.1f}–{max(rates):.1f} lines/s each
(**{result["lines_per_s"]:,.0f} lines/s** combined, ≈ {events_per_s:,.0f} events/s) were read in real time at
**{result["cpu_percent"]} % of one core** with **{result["rss_mb_max"]} MB RSS** (mean {result["rss_mb_mean"]} MB,
peak `VmHWM` {result["rss_mb_peak"]} MB); **{result["lines_lost"]} lines lost** of {result["lines_sent"]:,} sent.

| measure | value |
|---|---|
| channels, one connection | {args.channels} (all joined {joined}) |
| rate per channel | {min(rates):.1f}–{max(rates):.1f} lines/s (mean {sum(rates) / len(rates):.1f}) |
| lines/s, combined (measured window) | {result["lines_per_s"]:,} over {result["measured_s"]} s |
| events/s forwarded (≈ lines/s × {result["events_per_line"]} events per line) | {events_per_s:,.0f} |
| CPU of the ingester (user + system) | {result["cpu_percent"]} % of one core |
| RSS (sampled each second: mean / max; peak `VmHWM`) | {rss} |
| lines sent / lost | {result["lines_sent"]:,} / **{result["lines_lost"]}** |
| events forwarded / on disk | {result["events_forwarded"]:,} / {result["events_on_disk"]:,} |
| events by type | {", ".join(f"{k} {v:,}" for k, v in sorted(result["event_types"].items()))} |
| reconnects, parse errors, error log lines | {troubles} |
| exit code after SIGTERM | {result["exit_code"]} |

## How it was measured

```
flock /tmp/telemetra-bench.lock .venv/bin/python bench/twitch_ingest.py --channels {args.channels} --rate {args.rate} \\
    --duration {args.duration:g} --warmup {args.warmup:g}{" --reconnect" if args.reconnect else ""}
```

- Date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}. Machine: the project's dev machine, 2 cores, Python
  {sys.version.split()[0]}, shared with other sessions. Load average (1, 5, 15 min) {result["load_before"]} before the
  measured window, {result["load_after"]} after.
- The ingester, as a child process: `{result["command"]}` (a file sink: flushed every 0.5 s with fsync).
- The chat server (`telemetra.dev.twitch_chat`, in the benchmark's process, not counted in the ingester's CPU):
  each channel's lines are drawn from the real-format capture (chat with emotes and replies, `/me`, cheers,
  subs, resubs, gifts and mystery gifts, raids, bans, timeouts, clears, deleted messages), weighted so chat
  dominates, shuffled per channel; channel, room id, message id and `tmi-sent-ts` are rewritten per line. Each
  connection gets one WebSocket frame every 0.1 s with the due lines of all its channels.
- CPU is the ingester's user + system time (`/proc/PID/stat`) over the measured window after every channel was
  joined and {args.warmup:g} s of warm-up; RSS is `VmRSS` sampled each second, and `VmHWM` at the end.
- Lines lost: after the window the server stops playing, PINGs the client and waits for the PONG (the client
  handles lines in order, so all were handled), then SIGTERM. Lost = lines sent − the command's per-channel
  `lines` in its `twitch stopped` log line, less the JOIN echo and the ROOMSTATE of each join.{reconnect}
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    print(
        orjson.dumps({k: v for k, v in result.items() if k != "rates"}, option=orjson.OPT_INDENT_2).decode()
    )
    args.out.write_text(report(args, result))
    return 0 if result["lines_lost"] == 0 and result["rss_mb_peak"] < RSS_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
