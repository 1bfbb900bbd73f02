"""Train the learned layer of chat sentiment (``telemetra.analytics.sentiment_model``) on ``train.tsv``; write
the shipped weights, ``pipeline/src/telemetra/analytics/data/sentiment_model.tsv``.

Multinomial logistic regression, full-batch gradient descent (Nesterov momentum, fixed step, zero start) with
L2 on the weights (not the bias), over the hashed binary features of ``sentiment_model.features`` plus the
lexicon compound score. Deterministic: no sampling in training; the cross-validation folds are a fixed shuffle
(``random.Random(SEED)``).

Hyper-parameters are chosen by 5-fold cross-validation on ``train.tsv`` only (``eval.tsv`` and ``check.tsv``
are never read here): the L2 strength, class weighting (none / balanced), and the decision margin ``t``
(``p(pos) - p(neg) >= t`` → positive, ``<= -t`` → negative, else neutral) that maximises out-of-fold macro-F1.
The final model is trained on all of ``train.tsv`` with the chosen values. The lexicon layer's reading is a
feature, so any change to the lexicons or to its rules needs a retraining; ``--check`` fails when the shipped
weights differ from what training gives now (``make bench`` runs it).

    .venv/bin/python bench/sentiment_eval/train_model.py [--check]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from telemetra.analytics import sentiment_model

HERE = Path(__file__).resolve().parent
SHIPPED = HERE.parents[1] / "pipeline/src/telemetra/analytics/data/sentiment_model.tsv"

SEED = 17
FOLDS = 5
STEPS = 800
STEP_SIZE = 0.5
MOMENTUM = 0.9
L2_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
WEIGHTING = ("none", "balanced")
THRESHOLDS = tuple(round(0.02 * i, 2) for i in range(31))  # 0.00 … 0.60
PRUNE = 1e-3  # weights smaller than this (both classes) are not written
LABELS = sentiment_model.LABELS
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def load_rows(name: str = "train") -> list[tuple[str, str]]:
    lines = (HERE / f"{name}.tsv").read_text("utf-8").splitlines()[1:]
    rows = [(parts[0], parts[1]) for parts in (line.split("\t") for line in lines if line)]
    if any(label not in LABELS for _, label in rows):
        raise SystemExit(f"{name}.tsv: unknown label")
    return rows


@dataclass(frozen=True)
class Data:
    """A sparse design matrix in both row (CSR) and column (CSC) order, plus the dense compound column."""

    n: int
    columns: int
    row_starts: Ints  # CSR: nonzeros of row r are cols[row_starts[r]:row_starts[r + 1]]
    cols: Ints
    rows_by_col: Ints  # CSC order: the row of each nonzero, sorted by column
    col_starts: Ints
    compound: Floats
    y: Ints


def design(samples: Sequence[tuple[list[int], float]], labels: Sequence[int], vocab: dict[int, int]) -> Data:
    """Rows of feature ids → compact column indexes (ids outside ``vocab`` are dropped)."""
    cols: list[int] = []
    starts = [0]
    for ids, _ in samples:
        cols.extend(sorted(vocab[i] for i in ids if i in vocab))
        starts.append(len(cols))
    col_arr = np.asarray(cols, dtype=np.int64)
    row_of = np.repeat(np.arange(len(samples)), np.diff(starts))
    order = np.argsort(col_arr, kind="stable")
    counts = np.bincount(col_arr, minlength=len(vocab))
    return Data(
        n=len(samples),
        columns=len(vocab),
        row_starts=np.asarray(starts, dtype=np.int64),
        cols=col_arr,
        rows_by_col=row_of[order],
        col_starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        compound=np.asarray([c for _, c in samples], dtype=np.float64),
        y=np.asarray(labels, dtype=np.int64),
    )


def _row_sums(data: Data, per_nonzero: Floats) -> Floats:
    """Sum a (nnz, k) array per row (every row has the bias, so no row is empty)."""
    return np.add.reduceat(per_nonzero, data.row_starts[:-1], axis=0)


def _col_sums(data: Data, per_row: Floats) -> Floats:
    out = np.zeros((data.columns, per_row.shape[1]))
    nonempty = np.flatnonzero(np.diff(data.col_starts))
    sums = np.add.reduceat(per_row[data.rows_by_col], data.col_starts[nonempty], axis=0)
    out[nonempty] = sums
    return out


def probabilities(data: Data, w: Floats, wc: Floats) -> Floats:
    z = _row_sums(data, w[data.cols]) + data.compound[:, None] * wc[None, :]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    result: Floats = e / e.sum(axis=1, keepdims=True)
    return result


def train(data: Data, l2: float, weighting: str, bias_col: int) -> tuple[Floats, Floats]:
    """Weights (columns × 3 classes) and compound weights (3,), by Nesterov gradient descent."""
    counts = np.bincount(data.y, minlength=3).astype(np.float64)
    class_w = data.n / (3 * np.maximum(counts, 1)) if weighting == "balanced" else np.ones(3)
    sample_w = class_w[data.y] / data.n
    onehot = np.eye(3)[data.y]
    decay = np.full((data.columns, 1), l2)
    decay[bias_col] = 0.0
    w = np.zeros((data.columns, 3))
    wc = np.zeros(3)
    vw = np.zeros_like(w)
    vc = np.zeros_like(wc)
    for _ in range(STEPS):
        lw = w + MOMENTUM * vw
        lc = wc + MOMENTUM * vc
        g = (probabilities(data, lw, lc) - onehot) * sample_w[:, None]
        grad_w = _col_sums(data, g) + decay * lw
        grad_c = (g * data.compound[:, None]).sum(axis=0) + l2 * lc
        vw = MOMENTUM * vw - STEP_SIZE * grad_w
        vc = MOMENTUM * vc - STEP_SIZE * grad_c
        w = w + vw
        wc = wc + vc
    return w, wc


def decide(p: Floats, threshold: float) -> Ints:
    """0 positive, 1 neutral, 2 negative by the margin p(pos) - p(neg)."""
    margin = p[:, 0] - p[:, 2]
    out = np.ones(len(p), dtype=np.int64)
    out[margin >= threshold] = 0
    out[margin <= -threshold] = 2
    return out


def macro_f1(gold: Ints, pred: Ints) -> tuple[float, list[float]]:
    f1s = []
    for k in range(3):
        tp = float(np.sum((gold == k) & (pred == k)))
        fp = float(np.sum((gold != k) & (pred == k)))
        fn = float(np.sum((gold == k) & (pred != k)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / 3, f1s


def vocabulary(samples: Sequence[tuple[list[int], float]], indexes: Sequence[int]) -> dict[int, int]:
    seen = sorted({i for r in indexes for i in samples[r][0]})
    return {fid: col for col, fid in enumerate(seen)}


def cross_validate(
    samples: Sequence[tuple[list[int], float]], labels: Sequence[int], l2: float, weighting: str
) -> Floats:
    """Out-of-fold probabilities (n, 3)."""
    order = list(range(len(samples)))
    random.Random(SEED).shuffle(order)
    oof = np.zeros((len(samples), 3))
    for fold in range(FOLDS):
        held = order[fold::FOLDS]
        held_set = set(held)
        fit = [i for i in order if i not in held_set]
        vocab = vocabulary(samples, fit)
        fit_data = design([samples[i] for i in fit], [labels[i] for i in fit], vocab)
        w, wc = train(fit_data, l2, weighting, vocab[sentiment_model.BIAS])
        held_data = design([samples[i] for i in held], [labels[i] for i in held], vocab)
        oof[held] = probabilities(held_data, w, wc)
    return oof


def write_model(
    path: Path,
    vocab: dict[int, int],
    w: Floats,
    wc: Floats,
    threshold: float,
    notes: list[str],
    check: bool,
) -> int:
    lines = [f"# {note}" for note in notes]
    lines += [f"threshold\t{threshold:.2f}"]
    rel = w - w[:, 1:2]  # logits relative to neutral: predictions are unchanged
    relc = wc - wc[1]
    lines += [f"compound\t{relc[0]:.4f}\t{relc[2]:.4f}", "id\tpositive\tnegative"]
    kept = 0
    for fid, col in sorted(vocab.items()):
        pos, neg = rel[col, 0], rel[col, 2]
        if abs(pos) < PRUNE and abs(neg) < PRUNE:
            continue
        lines.append(f"{fid}\t{pos:.4f}\t{neg:.4f}")
        kept += 1
    text = "\n".join(lines) + "\n"
    if check:
        if not path.exists() or path.read_text("utf-8") != text:
            raise SystemExit(
                f"{path}: differs from what training gives now; retrain (train_model.py) and commit"
            )
    else:
        path.write_text(text, "utf-8")
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail if the shipped weights are not up to date")
    parser.add_argument("--l2", type=float, help="skip the search: use this L2 strength")
    parser.add_argument("--weighting", choices=WEIGHTING, help="skip the search: use this class weighting")
    args = parser.parse_args()

    started = time.perf_counter()
    rows = load_rows()
    samples = [sentiment_model.features(text) for text, _ in rows]
    labels = [LABELS.index(label) for _, label in rows]
    gold = np.asarray(labels, dtype=np.int64)
    counts = Counter(label for _, label in rows)
    print(f"train.tsv: {len(rows)} lines, " + ", ".join(f"{k} {counts[k]}" for k in LABELS))

    l2_values = [args.l2] if args.l2 else list(L2_GRID)
    weightings = [args.weighting] if args.weighting else list(WEIGHTING)
    grid = [(l2, wt) for l2 in l2_values for wt in weightings]
    best: tuple[float, float, str, float] | None = None
    print("| L2 | weighting | argmax macro-F1 | best margin t | macro-F1 at t | F1 pos / neu / neg |")
    print("|---:|---|---:|---:|---:|---|")
    for l2, weighting in grid:
        oof = cross_validate(samples, labels, l2, weighting)
        argmax_f1, _ = macro_f1(gold, np.asarray(oof.argmax(axis=1), dtype=np.int64))
        scored = [(macro_f1(gold, decide(oof, t))[0], t) for t in THRESHOLDS]
        f1, t = max(scored, key=lambda s: (s[0], -s[1]))
        per_class = macro_f1(gold, decide(oof, t))[1]
        print(
            f"| {l2:g} | {weighting} | {argmax_f1:.3f} | {t:.2f} | {f1:.3f} | "
            + " / ".join(f"{f:.3f}" for f in per_class)
            + " |"
        )
        if best is None or f1 > best[0]:
            best = (f1, l2, weighting, t)
    assert best is not None
    cv_f1, l2, weighting, threshold = best
    vocab = vocabulary(samples, range(len(samples)))
    data = design(samples, labels, vocab)
    w, wc = train(data, l2, weighting, vocab[sentiment_model.BIAS])
    notes = [
        "Chat sentiment model: weights of telemetra.analytics.sentiment_model. Generated by",
        f"bench/sentiment_eval/train_model.py on bench/sentiment_eval/train.tsv ({len(rows)} labelled lines);",
        "do not edit.",
        f"Multinomial logistic regression, {sentiment_model.BITS}-bit crc32-hashed features, L2 {l2:g}, "
        f"class weighting {weighting}, {STEPS} Nesterov steps of {STEP_SIZE}.",
        f"5-fold cross-validated macro-F1 on train.tsv {cv_f1:.3f} at decision margin {threshold:.2f}.",
        "Weights are logits relative to neutral: id = crc32-derived feature id (see sentiment_model.py).",
        "",
        "Sources and licence: the training texts are Twitch chat lines published under the MIT licence by",
        "Data-Science-for-Linguists/NLSS_Project, dekuNukem/Twitch_Chatlogs and Chatterino/chatterino2 (pinned",
        "commits, notices and attribution: bench/sentiment_eval/LICENSES.md); the labels are Telemetra's own; the",
        "lexicon features come from the VADER 3.3.2 lexicon (MIT) and Telemetra's lexicons. This file holds no",
        "text, only hashed feature ids and numbers: Apache-2.0, with the attribution above.",
    ]
    kept = write_model(SHIPPED, vocab, w, wc, threshold, notes, args.check)
    train_f1 = macro_f1(gold, decide(probabilities(data, w, wc), threshold))[0]
    print(
        f"\nchosen: L2 {l2:g}, {weighting}, margin {threshold:.2f} (CV macro-F1 {cv_f1:.3f}); "
        f"training-set macro-F1 {train_f1:.3f}; {kept} of {len(vocab)} features "
        f"{'checked in' if args.check else 'written to'} {SHIPPED.name}; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
