"""Choose the lines of the training sample (``train.tsv``) from the ``lexicon`` split of ``corpus.tsv``.

Never an ``eval``, ``check`` or ``dup`` line. Per source, the lexicon lines are sorted by text, shuffled with
``random.Random(SEED)`` and the first N taken (NLSS 2,520, SGDQ 420, nymn all 64), roughly the sources' share
of the evaluation set. Prints ``text<TAB>source_id`` in labelling order (nymn, then SGDQ, then NLSS); the
labels of ``train.tsv`` were entered by hand in that order.

    python bench/sentiment_eval/sample_train.py > /tmp/train_unlabelled.tsv
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 1717
QUOTA = {"nymn": 64, "sgdq2017": 420, "nlss": 2520}


def sample() -> list[tuple[str, str]]:
    lines = (HERE / "corpus.tsv").read_text("utf-8").splitlines()[1:]
    by_source: dict[str, list[tuple[str, str]]] = {}
    for line in lines:
        text, source_id, split, _count = line.split("\t")
        if split == "lexicon":
            by_source.setdefault(source_id.split(":")[0], []).append((text, source_id))
    out: list[tuple[str, str]] = []
    for source, quota in QUOTA.items():
        rows = sorted(by_source[source])
        random.Random(SEED).shuffle(rows)
        out += rows[:quota]
    return out


def main() -> None:
    for text, source_id in sample():
        sys.stdout.write(f"{text}\t{source_id}\n")


if __name__ == "__main__":
    main()
