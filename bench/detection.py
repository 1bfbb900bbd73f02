"""Detection benchmark: precision, recall, F1 and delay per kind against ground-truth labels, over many seeds.

``poisson``: the mock's Poisson chat, every moment kind, plus false moments per stream-hour on scenario-free
traffic. ``bursty`` (issue 19): the mock's bursty chat (drifting level, bursts: as real chat), channels of 0.3
to 60 messages/s, three-hour streams with chat episodes of 2×, 3×, 5× and 10× (30 s) and ramps to 4× over two
minutes at random slots (some slots left empty), every moment of every kind counted: an episode's first moment
of its kind is right, more split it, and a moment in no episode is false.

    .venv/bin/python bench/detection.py [poisson|bursty|both] --seeds 10 --rates 30,200 --sizes 0.3,3,10,60 \
        [--sensitivity low|normal|high]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter

from telemetra.analytics.backtest import EpisodeOutcome, match_episodes, merge_scores
from telemetra.analytics.config import AnalyticsConfig, MomentThresholds
from telemetra.apps.detection_trial import SPACING, WARMUP, run_trial, trial
from telemetra.producers.mock import NON_CHAT_SHARE

EPISODES = ["hype@x5", "hype@x3", "raid", "surge", "gift_bomb", "viewer_drop", "sentiment_swing"]
# 24 slots of a three-hour stream: four of each chat episode, four left empty
BURSTY_SLOTS = ["hype@x2", "hype@x3", "hype@x5", "hype@x10", "ramp@x4", ""] * 4
STRONG = ("x3", "x5", "x10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", nargs="?", choices=["poisson", "bursty", "both"], default="both")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rates", default="30,200", help="poisson: comma-separated mean events/s per stream")
    parser.add_argument("--sizes", default="0.3,3,10,60", help="bursty: comma-separated chat messages/s")
    parser.add_argument("--sensitivity", choices=["low", "normal", "high"], default="normal", help="bursty")
    args = parser.parse_args()
    if args.model in ("poisson", "both"):
        poisson(args)
    if args.model in ("bursty", "both"):
        bursty(args)


def bursty(args: argparse.Namespace) -> None:
    seeds = range(1, args.seeds + 1)
    config = AnalyticsConfig(thresholds=MomentThresholds(sensitivity=args.sensitivity))
    print(f"\n## Bursty chat, {args.seeds} seeds × 3 h per channel size, sensitivity {args.sensitivity}\n")
    print("| msg/s | 3×+ recall | 3×+ median delay (s) | ramp 4× recall | 2× recall | precision | "
          "false / stream-hour | split episodes | false moments by kind |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for size in (float(x) for x in args.sizes.split(",")):
        started = time.time()
        outcomes: list[EpisodeOutcome] = []
        false: Counter[str] = Counter()
        reported = 0
        for seed in seeds:
            moments, labels = run_trial(
                seed, BURSTY_SLOTS, rate=size / (1 - NON_CHAT_SHARE), chat="bursty", config=config
            )
            matched, wrong = match_episodes(moments, labels)
            outcomes += matched
            false.update(m["kind"] for m in wrong)
            reported += len(moments)
        hours = args.seeds * (WARMUP + len(BURSTY_SLOTS) * SPACING + 120) / 3600
        strong, ramps, weak = (
            _of(outcomes, "hype", STRONG),
            _of(outcomes, "ramp", ("x4",)),
            _of(outcomes, "hype", ("x2",)),
        )
        delays = [o.delay for o in strong if o.delay is not None]
        detected = sum(1 for o in outcomes if o.moments)
        print(f"| {size:g} | {_recall(strong)} | {statistics.median(delays) if delays else '–':.1f} | "
              f"{_recall(ramps)} | {_recall(weak)} | {detected / reported if reported else 1:.3f} | "
              f"{sum(false.values()) / hours:.2f} | {sum(1 for o in outcomes if o.moments > 1)} | "
              f"{dict(false) or ''} |")  # fmt: skip
        print(f"<!-- {size:g} msg/s: {time.time() - started:.0f} s -->")


def _of(outcomes: list[EpisodeOutcome], scenario: str, factors: tuple[str, ...]) -> list[EpisodeOutcome]:
    return [o for o in outcomes if o.label["scenario"] == scenario and f"x{o.label['factor']:g}" in factors]


def _recall(outcomes: list[EpisodeOutcome]) -> str:
    return f"{sum(1 for o in outcomes if o.moments) / len(outcomes):.3f}" if outcomes else "–"


def poisson(args: argparse.Namespace) -> None:
    seeds = range(1, args.seeds + 1)
    for rate in (float(r) for r in args.rates.split(",")):
        started = time.time()
        scores = merge_scores(trial(seed, EPISODES, rate=rate) for seed in seeds)
        print(f"\n## {rate:g} events/s per stream, {args.seeds} seeds, {len(EPISODES)} episodes each\n")
        print("| kind | tp | fp | fn | duplicates | precision | recall | F1 | median delay (s) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for kind, score in sorted(scores.items()):
            s = score.summary()
            print(f"| {kind} | {s['tp']} | {s['fp']} | {s['fn']} | {s['duplicates']} | {s['precision']} | "
                  f"{s['recall']} | {s['f1']} | {s['median_delay_s']} |")  # fmt: skip
        for factor in ("x5", "x3"):
            spikes = merge_scores(
                trial(seed, [f"hype@{factor}"] * 3, rate=rate, stream="h") for seed in seeds
            )
            c = spikes["chat_spike"]
            print(f"\nchat spikes {factor}: recall {c.recall:.3f}, precision {c.precision:.3f} "
                  f"({c.true_positives + c.false_negatives} episodes)")  # fmt: skip
        quiet = merge_scores(trial(seed, [], rate=rate, stream="q", duration=3600) for seed in seeds)
        false = sum(s.false_positives for s in quiet.values())
        kinds = {k: s.false_positives for k, s in quiet.items() if s.false_positives}
        print(f"scenario-free: {false} false moments in {args.seeds} stream-hours "
              f"= {false / args.seeds:.2f} per stream-hour {kinds or ''}")  # fmt: skip
        print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
