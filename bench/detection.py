"""Detection benchmark: precision, recall, F1 and delay per kind against ground-truth labels, over many seeds,
plus false moments per stream-hour on scenario-free traffic.

    .venv/bin/python bench/detection.py --seeds 10 --rates 30,200
"""

from __future__ import annotations

import argparse
import time

from telemetra.analytics.backtest import merge_scores
from telemetra.apps.detection_trial import trial

EPISODES = ["hype@x5", "hype@x3", "raid", "surge", "gift_bomb", "viewer_drop", "sentiment_swing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rates", default="30,200", help="comma-separated mean events/s per stream")
    args = parser.parse_args()
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
