"""Scoring detected moments against ground-truth labels: precision, recall, F1 and delay per kind.

A moment matches a label when it is on the same stream, of the expected kind, and starts within the labelled
episode (with ``tolerance`` seconds of slack on each side, since a pane may start before the episode does).
Each label is matched by at most one moment; any other moment is a false one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telemetra.contract import parse_ts


@dataclass
class KindScore:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    duplicates: int = 0  # extra moments for an episode that was already matched
    delays: list[float] = field(default_factory=list)  # detected_at − labelled start, seconds

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def median_delay(self) -> float | None:
        return statistics.median(self.delays) if self.delays else None

    def summary(self) -> dict[str, Any]:
        return {
            "tp": self.true_positives,
            "fp": self.false_positives,
            "fn": self.false_negatives,
            "duplicates": self.duplicates,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "median_delay_s": None if self.median_delay is None else round(self.median_delay, 1),
        }


def score_moments(
    moments: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]], tolerance: float = 20.0
) -> dict[str, KindScore]:
    scores: dict[str, KindScore] = defaultdict(KindScore)
    open_labels = [dict(label) for label in labels]
    matched: set[int] = set()
    for moment in sorted(moments, key=lambda m: (m["start"], m["kind"])):
        kind, start = moment["kind"], parse_ts(moment["start"])
        hit = next(
            (
                index
                for index, label in enumerate(open_labels)
                if label["stream_id"] == moment["stream_id"]
                and label["expected_moment"] == kind
                and parse_ts(label["start"]) - tolerance <= start <= parse_ts(label["end"]) + tolerance
            ),
            None,
        )
        if hit is None:
            scores[kind].false_positives += 1
        elif hit in matched:
            scores[kind].duplicates += 1
        else:
            matched.add(hit)
            scores[kind].true_positives += 1
            detected = moment.get("detected_at") or moment["start"]
            scores[kind].delays.append(parse_ts(detected) - parse_ts(open_labels[hit]["start"]))
    for index, label in enumerate(open_labels):
        if index not in matched:
            scores[label["expected_moment"]].false_negatives += 1
    return dict(scores)


def merge_scores(runs: Iterable[Mapping[str, KindScore]]) -> dict[str, KindScore]:
    total: dict[str, KindScore] = defaultdict(KindScore)
    for run in runs:
        for kind, score in run.items():
            into = total[kind]
            into.true_positives += score.true_positives
            into.false_positives += score.false_positives
            into.false_negatives += score.false_negatives
            into.duplicates += score.duplicates
            into.delays += score.delays
    return dict(total)


@dataclass(frozen=True)
class EpisodeOutcome:
    """One labelled episode and the moments of its expected kind that start within it."""

    label: Mapping[str, Any]
    moments: int
    delay: float | None
    """``detected_at`` of its first moment − the labelled start, seconds (None: not detected)."""


def match_episodes(
    moments: Iterable[Mapping[str, Any]], labels: Iterable[Mapping[str, Any]], tolerance: float = 20.0
) -> tuple[list[EpisodeOutcome], list[Mapping[str, Any]]]:
    """Each episode with its moments (one is right; more split it), and the moments that are in no episode of
    their kind: the false ones. Stricter than :func:`score_moments` about splits: every moment counts."""
    episodes = list(labels)
    spans = [(parse_ts(label["start"]) - tolerance, parse_ts(label["end"]) + tolerance) for label in episodes]
    found: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    false = []
    for moment in sorted(moments, key=lambda m: (m["start"], m["kind"])):
        start = parse_ts(moment["start"])
        hit = next(
            (
                index
                for index, label in enumerate(episodes)
                if label["stream_id"] == moment["stream_id"]
                and label["expected_moment"] == moment["kind"]
                and spans[index][0] <= start <= spans[index][1]
            ),
            None,
        )
        if hit is None:
            false.append(moment)
        else:
            found[hit].append(moment)
    outcomes = []
    for index, label in enumerate(episodes):
        hits = found.get(index, [])
        first = (hits[0].get("detected_at") or hits[0]["start"]) if hits else None
        delay = parse_ts(first) - parse_ts(label["start"]) if first else None
        outcomes.append(EpisodeOutcome(label, len(hits), delay))
    return outcomes, false
