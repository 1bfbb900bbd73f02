"""Throughput of chat sentiment scoring (``telemetra.analytics.sentiment``), messages/s on one core.

Workloads:
  mock      chat events of the mock producer (one stream, 2,000 events/s for 60 s, seed 7): short lines,
            emote-only lines and emote repeats, as in real chat; lines repeat a lot (the LRU cache helps);
  distinct  synthetic lines, all different: chat phrases, extra words, emotes, emoji, @mentions, numbers,
            elongation, caps and punctuation, 1-14 tokens (the uncached number is the honest one here);
  cold      distinct lines made of never-seen random words: every token misses the token memo (worst case).

For each workload: ``score_uncached`` (no LRU cache; the token memo starts empty every run and warms up during
it), ``score`` (LRU cache and token memo start empty every run) and, for scale, the reference implementation
(``vaderSentiment`` 3.3.2 ``polarity_scores``). Best of ``--runs`` runs; single-threaded, so one core.

    .venv/bin/python bench/sentiment.py [--runs 3] [--distinct 100000] [--duration 60]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import string
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from telemetra.analytics import sentiment
from telemetra.analytics.emotes import KNOWN_EMOTES, recognise_emotes
from telemetra.producers import vocabulary as vocab
from telemetra.producers.mock import MockConfig, generate_batches

Line = tuple[str, list[str]]

_WORDS = (
    "the this that is was he she they we you i it a an and or but not no never so very really too just "
    "what why how when where who game play boss run map level stream chat mod streamer song music build "
    "good bad great awful nice love hate fun boring funny sad happy win lose won lost lag dead kill clutch "
    "sick insane pog w l gg ez rip lol lmao omg wtf bruh yikes hype cringe trash goated based yes ok okay "
    "again now today tonight first last next time guys everyone here there maybe kinda sorta least doubt"
)
_EMOJI = "😂 🤣 ❤️ 😭 😡 🔥 👍 👎 💀 😍 😊 😢 🙏 👏 💯 😴 🤔 🙄 🎉 🥳 🐐 🤡 😳 👀 💜"
EXTRA_WORDS = _WORDS.split()
EMOJI = _EMOJI.split()
EMOTES = sorted(KNOWN_EMOTES)


def mock_lines(duration: float) -> list[Line]:
    config = MockConfig(streams=["a"], rate=2000, duration=duration, seed=7, start=1.79e9)
    return [
        (event["text"], list(event["emotes"]))
        for _, batch in generate_batches(config)
        for event in batch
        if event["type"] == "chat"
    ]


def _mutate(word: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05 and word.isalpha():  # elongation: "sooo", "goood"
        i = rng.randrange(len(word))
        return word[: i + 1] + word[i] * rng.randint(2, 5) + word[i + 1 :]
    if roll < 0.09:
        return word.upper()
    if roll < 0.12:
        return word + rng.choice(("!", "!!!", "?", "??", ".", ","))
    return word


def _token(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(EMOTES)
    if roll < 0.32:
        return rng.choice(EMOJI)
    if roll < 0.35:
        return f"@{rng.choice(vocab.NAME_PARTS)}{rng.choice(vocab.NAME_PARTS)}{rng.randrange(10_000)}"
    if roll < 0.37:
        return str(rng.randrange(1000))
    return _mutate(rng.choice(EXTRA_WORDS), rng)


def distinct_lines(count: int, seed: int = 7) -> list[Line]:
    rng = random.Random(seed)
    phrases = [*vocab.POSITIVE_PHRASES, *vocab.NEGATIVE_PHRASES, *vocab.NEUTRAL_PHRASES]
    seen: set[str] = set()
    lines: list[Line] = []
    while len(lines) < count:
        tokens = [_token(rng) for _ in range(rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 10, 14)))]
        if rng.random() < 0.4:
            tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(phrases))
        text = " ".join(tokens)
        if text not in seen:
            seen.add(text)
            lines.append((text, recognise_emotes(text)))
    return lines


def cold_lines(count: int, seed: int = 11) -> list[Line]:
    rng = random.Random(seed)
    letters = string.ascii_lowercase
    lines: list[Line] = []
    for _ in range(count):
        words = ["".join(rng.choices(letters, k=rng.randint(3, 9))) for _ in range(rng.randint(1, 8))]
        lines.append((" ".join(words), []))
    return lines


Scorer = Callable[[str, list[str]], object]


def _seconds(lines: Sequence[Line], fn: Scorer, reset: bool) -> float:
    if reset:
        sentiment.clear_cache()
    start = time.perf_counter()
    for text, emotes in lines:
        fn(text, emotes)
    return time.perf_counter() - start


def _rates(lines: Sequence[Line], scorers: dict[str, tuple[Scorer, bool]], runs: int) -> dict[str, float]:
    """Best-of-``runs`` messages/s per scorer; runs are interleaved so load changes hit every scorer alike."""
    best = dict.fromkeys(scorers, float("inf"))
    for _ in range(runs):
        for name, (fn, reset) in scorers.items():
            best[name] = min(best[name], _seconds(lines, fn, reset))
    return {name: len(lines) / seconds for name, seconds in best.items()}


def _reference() -> Scorer | None:
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        return None
    analyzer = SentimentIntensityAnalyzer()
    return lambda text, _emotes: analyzer.polarity_scores(text)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    parser.add_argument("--distinct", type=int, default=100_000, help="distinct synthetic lines")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of mock chat at 2,000 events/s")
    args = parser.parse_args()

    workloads = {
        "mock": mock_lines(args.duration),
        "distinct": distinct_lines(args.distinct),
        "cold": cold_lines(args.distinct // 2),
    }
    reference = _reference()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, {_cpu()}")
    print(f"# {os.cpu_count()} cores, load average before the run: {load}")
    print("| workload | lines | distinct | score_uncached msg/s | score (LRU) msg/s | vaderSentiment msg/s |")
    print("|---|---:|---:|---:|---:|---:|")
    scorers: dict[str, tuple[Scorer, bool]] = {
        "uncached": (sentiment.score_uncached, True),
        "cached": (sentiment.score, True),
    }
    if reference:
        scorers["reference"] = (reference, False)
    for name, lines in workloads.items():
        rates = _rates(lines, scorers, args.runs)
        ref = f"{rates['reference']:,.0f}" if reference else "n/a"
        distinct = len({text for text, _ in lines})
        measured = f"{rates['uncached']:,.0f} | {rates['cached']:,.0f} | {ref}"
        print(f"| {name} | {len(lines):,} | {distinct:,} | {measured} |")


if __name__ == "__main__":
    main()
