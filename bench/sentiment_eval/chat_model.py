"""A small learned layer on top of Telemetra's lexicon scorer (issue 17, part B), prepared outside the package.

Multinomial logistic regression over hashed, binary features of one chat message (weights: ``model.tsv``,
trained by ``train_model.py`` on ``train.tsv``). Pure Python and deterministic: features are hashed with
``zlib.crc32`` (not Python's salted ``hash``) into ``2**BITS`` slots, and the lexicon scorer runs in the
same pass (its tokens give the compound score and the positive / negative item counts).

Features (binary, except ``compound``; per *distinct* token and bigram, so spam does not multiply them):

- ``u:<word>``: every token, lower-cased, stripped of surrounding punctuation, runs of 3+ equal characters
  squeezed to 2 ("LULLLL" → "lull", "goooood" → "good"), numbers as ``<num>`` (two spellings of one word in
  a message count twice);
- bigrams of those words, and ``<s>`` + the first word (ids derived arithmetically from the two word ids);
- ``f:<suffix>``: the family of a subscriber-shaped emote, its part from the first capital on, lower-cased
  ("lionNice" → "nice", "moon2SMUG" → "smug", "forsenPls" → "pls");
- the lexicon scorer: its compound score (real-valued) and the score bucketed (9 buckets), the number of
  positive and of negative lexicon items among the distinct tokens (0, 1, 2, 3+), both signs present;
- message shape: length in tokens (6 buckets), all caps (``str.isupper``), laughter (lol, lul, kekw, haha,
  lmao, xd, ...), laughter together with a negative item, a negation word, "?" and "!", emote-only messages;
- a bias.

Inference returns the class probabilities; ``Model.score`` maps them to a score in [-1, 1] whose ±0.05
buckets (``sentiment.classify``) give the model's class (see ``bench/results/sentiment_quality.md``).
"""

from __future__ import annotations

import math
import re
import string
import zlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from operator import and_, mul, xor
from pathlib import Path
from typing import NamedTuple

from telemetra.analytics import sentiment

HERE = Path(__file__).resolve().parent
BITS = 18
MASK = (1 << BITS) - 1
LABELS = ("positive", "neutral", "negative")

_PUNCT = string.punctuation + "…‘’“”«»¡¿"
_RUN3 = re.compile(r"(.)\1{2,}")
_SUB_EMOTE = re.compile(r"^[a-z][a-z0-9]{1,14}([A-Z][A-Za-z0-9]+)$")
_LAUGH = re.compile(
    r"^(?:(?:a?h+a+){2,}h*|l+(?:o+l+)+|l+u+l+w?|lm+a+o+|lmf+a+o+|ke+k+w?|x+d+|rofl|omegalul|lulw|kekw)$"
)
_LAUGH_EMOTE = re.compile(r"(?:LUL|KEKW|LOL|4Head|EleGiggle|Giggle)")
_NUMBER = re.compile(r"^[0-9][0-9.,:/%]*$")

Rewrite = Callable[[list[str]], list[str]]


def hashed(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) & MASK


PAIR_FACTOR = 1_000_003


def _pairs(words: list[int]) -> set[int]:
    """Bigram ids ``((a * PAIR_FACTOR) ^ b) & MASK`` of consecutive word ids, ``<s>`` first (computed in C)."""
    firsts = map(mul, [_START, *words[:-1]], repeat(PAIR_FACTOR))
    return set(map(and_, map(xor, firsts, words), repeat(MASK)))


def _scaled_pairs(scaled: list[int], words: list[int]) -> set[int]:
    """``_pairs`` from the words already multiplied by PAIR_FACTOR (memoised per token)."""
    return set(map(and_, map(xor, scaled, words), repeat(MASK)))


COMPOUND_EDGES = (-0.75, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 0.75)  # bucket i: edges[i-1] <= x < edges[i]
LENGTH_EDGES = (2, 3, 4, 7, 13)
_START = zlib.crc32(b"<s>") & MASK
_COMPOUND_IDS = tuple(hashed(f"c:{i}") for i in range(len(COMPOUND_EDGES) + 1))
_LENGTH_IDS = tuple(hashed(f"len:{i}") for i in range(len(LENGTH_EDGES) + 1))
_POS_IDS = tuple(hashed(f"np:{i}") for i in range(4))
_NEG_IDS = tuple(hashed(f"nn:{i}") for i in range(4))
BIAS = hashed("bias")
# Message flags, in bit order.
_FLAG_IDS = tuple(
    hashed(name) for name in ("pos+neg", "laugh", "laugh+neg", "negation", "?", "!", "emote-only", "caps")
)

# Per-token facts packed into one int, so that a message's totals are one C-level sum: counts in 20-bit fields.
_FIELD = 20
_POS, _NEG, _LAUGHS, _NEGATIONS, _NON_EMOTES = (1 << (_FIELD * i) for i in range(5))
_FIELD_MASK = (1 << _FIELD) - 1
_LAUGH_SHIFT, _NEGATION_SHIFT, _NON_EMOTE_SHIFT = 2 * _FIELD, 3 * _FIELD, 4 * _FIELD


class Token(NamedTuple):
    """What the model needs to know about one distinct token (memoised)."""

    word: int  # u:<word>
    family: int  # f:<suffix>, -1 when none
    code: int  # packed: positive items, negative items, laughter, negation, not an emote


def _token(token: str) -> Token:
    stripped = token.strip(_PUNCT) or token
    word = "<num>" if _NUMBER.match(stripped) else _RUN3.sub(r"\1\1", stripped.lower())
    match = _SUB_EMOTE.match(stripped)
    family = hashed("f:" + match[1].lower()) if match and len(match[1]) >= 2 else -1
    laugh = bool(_LAUGH.match(word)) or bool(_LAUGH_EMOTE.search(stripped))
    emote = stripped in sentiment._EMOTE_TOKS or match is not None
    pieces = [token] if token.isascii() else sentiment._split_emoji([token])
    known = sentiment._MEMO.get  # the lexicon pass of the same message has just analysed these
    toks = [known(piece) or sentiment._analyse(piece) for piece in pieces]
    code = sum(t.valence > 0 for t in toks) * _POS + sum(t.valence < 0 for t in toks) * _NEG
    code += laugh * _LAUGHS + any(t.negation for t in toks) * _NEGATIONS + (not emote) * _NON_EMOTES
    return Token(hashed("u:" + word), family, code)


_MEMO: dict[str, Token] = {}
MEMO_LIMIT = 100_000  # distinct tokens memoised (cleared when full, like the scorer's own memo)


def token(text: str) -> Token:
    found = _MEMO.get(text)
    if found is None:
        if len(_MEMO) >= MEMO_LIMIT:
            _MEMO.clear()
        found = _MEMO[text] = _token(text)
    return found


def _message(text: str, code: int) -> int:
    """Message-level facts in one int: positive items (0-3), negative items (0-3) << 2, then the bits laugh 16,
    negation 32, emote-only 64, "?" 128, "!" 256, all caps 512."""
    pos = code & _FIELD_MASK
    neg = code >> _FIELD & _FIELD_MASK
    key = (pos if pos < 3 else 3) | (neg if neg < 3 else 3) << 2
    if code >> _LAUGH_SHIFT & _FIELD_MASK:
        key |= 16
    if code >> _NEGATION_SHIFT & _FIELD_MASK:
        key |= 32
    if not code >> _NON_EMOTE_SHIFT:
        key |= 64
    if "?" in text:
        key |= 128
    if "!" in text:
        key |= 256
    if text.isupper():
        key |= 512
    return key


MESSAGE_KEYS = 1024


def message_ids(key: int) -> list[int]:
    """Feature ids of a message key (``_message``)."""
    pos, neg = key & 3, key >> 2 & 3
    ids = [_POS_IDS[pos], _NEG_IDS[neg]]
    flags = [
        pos > 0 and neg > 0,
        bool(key & 16),
        bool(key & 16) and neg > 0,
        bool(key & 32),
        bool(key & 128),
        bool(key & 256),
        bool(key & 64),
        bool(key & 512),
    ]
    return ids + [fid for fid, on in zip(_FLAG_IDS, flags, strict=True) if on]


def _lexicon_score(tokens: list[str], text: str, rewrite: Rewrite | None) -> float:
    if rewrite is None:
        return sentiment.score_uncached(text)
    return sentiment.score_uncached(" ".join(rewrite(tokens)))


def features(text: str, rewrite: Rewrite | None = None) -> tuple[list[int], float]:
    """Feature ids of a message and its lexicon compound score (the compound is also a real-valued feature).

    ``rewrite``: token rewrites applied before the lexicon score only (the simulated rules of
    ``bench/sentiment_quality.py``); word features always come from the message as written."""
    tokens = text.split()
    if not tokens:
        return [BIAS], 0.0
    compound = _lexicon_score(tokens, text, rewrite)
    toks = [_MEMO.get(t) or token(t) for t in tokens]
    distinct = {t: tok for t, tok in zip(tokens, toks, strict=True)}.values()
    ids = [t.word for t in distinct] + [t.family for t in distinct if t.family >= 0]
    ids += _pairs([t.word for t in toks])
    ids += [BIAS, _COMPOUND_IDS[bisect_right(COMPOUND_EDGES, compound)]]
    ids.append(_LENGTH_IDS[bisect_right(LENGTH_EDGES, len(tokens))])
    ids += message_ids(_message(text, sum(t.code for t in distinct)))
    return ids, compound


# --- the model -------------------------------------------------------------------------------------------------


@dataclass
class Model:
    """Logits relative to neutral: ``weights[id] = (w_positive, w_negative)``; ``compound_weight`` multiplies
    the lexicon compound score; ``threshold``: the ``p(positive) - p(negative)`` margin that counts as polar.

    Each weight pair is also stored as one complex number (positive + negative·j), so that summing a
    message's weights runs in C; per distinct token, its word and family weights are memoised together."""

    weights: dict[int, tuple[float, float]]
    compound_weight: tuple[float, float]
    threshold: float
    rules: bool  # trained on the lexicon features of the combined rules (model+rules)
    packed: dict[int, complex] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.packed = {i: complex(p, n) for i, (p, n) in self.weights.items()}
        get = self.packed.get
        self._memo: dict[str, tuple[int, complex, int, int]] = {}
        self._compound = complex(*self.compound_weight)
        self._bias = get(BIAS, 0j)
        self._start = _START * PAIR_FACTOR
        self._compound_buckets = [get(i, 0j) for i in _COMPOUND_IDS]
        self._lengths = [get(i, 0j) for i in _LENGTH_IDS]
        self._messages = [sum(map(get, message_ids(key), repeat(0j))) for key in range(MESSAGE_KEYS)]

    def _entry(self, text: str) -> tuple[int, complex, int, int]:
        """Word id, word + family weight, packed code, word id × PAIR_FACTOR."""
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        tok = token(text)
        get = self.packed.get
        weight = get(tok.word, 0j) + (get(tok.family, 0j) if tok.family >= 0 else 0j)
        found = self._memo[text] = (tok.word, weight, tok.code, tok.word * PAIR_FACTOR)
        return found

    def logits(self, text: str, rewrite: Rewrite | None = None) -> tuple[float, float]:
        """Positive and negative logits (neutral's is 0); the same sum as over ``features(text)``."""
        tokens = text.split()
        if not tokens:
            return self._bias.real, self._bias.imag
        compound = (
            sentiment.score_uncached(text) if rewrite is None else _lexicon_score(tokens, text, rewrite)
        )
        memo = self._memo.get
        entries = [memo(t) or self._entry(t) for t in tokens]
        distinct = dict(zip(tokens, entries, strict=True)).values()
        total = sum([e[1] for e in distinct], self._bias + self._compound * compound)
        pairs = _scaled_pairs([self._start, *[e[3] for e in entries[:-1]]], [e[0] for e in entries])
        total += sum(map(self.packed.get, pairs, repeat(0j)))
        total += self._compound_buckets[bisect_right(COMPOUND_EDGES, compound)]
        total += self._lengths[bisect_right(LENGTH_EDGES, len(tokens))]
        total += self._messages[_message(text, sum([e[2] for e in distinct]))]
        return total.real, total.imag

    def probabilities(self, text: str, rewrite: Rewrite | None = None) -> tuple[float, float, float]:
        """p(positive), p(neutral), p(negative)."""
        return softmax(*self.logits(text, rewrite))

    def score(self, text: str, rewrite: Rewrite | None = None) -> float:
        """A compound-like score in [-1, 1] for the dashboard; ``sentiment.classify`` of it is the model's class."""
        pos, neg = self.logits(text, rewrite)
        if pos > 700.0 or neg > 700.0:  # never with these weights; exp would overflow
            p_pos, _, p_neg = softmax(pos, neg)
            return margin_to_compound(p_pos - p_neg, self.threshold)
        ep = math.exp(pos)
        en = math.exp(neg)
        return margin_to_compound((ep - en) / (1.0 + ep + en), self.threshold)  # p(pos) - p(neg)


def clear_memos(model: Model | None = None) -> None:
    """Forget memoised token analyses (results do not change; only speed does)."""
    _MEMO.clear()
    if model is not None:
        model._memo.clear()


def softmax(pos: float, neg: float) -> tuple[float, float, float]:
    top = max(pos, neg, 0.0)
    ep = math.exp(pos - top)
    en = math.exp(neg - top)
    e0 = math.exp(-top)
    total = ep + en + e0
    return ep / total, e0 / total, en / total


def margin_to_compound(margin: float, threshold: float) -> float:
    """Map ``p(pos) - p(neg)`` in [-1, 1] monotonically onto [-1, 1] so that ±``threshold`` lands on ±0.05
    (``classify``'s cut-offs): piecewise linear, inside the band scaled down, outside stretched."""
    cut = sentiment.POSITIVE_THRESHOLD
    size = abs(margin)
    inside = size < threshold
    value = size * cut / threshold if inside else cut + (size - threshold) * (1.0 - cut) / (1.0 - threshold)
    return math.copysign(min(1.0, value), margin)


def load(path: Path | None = None) -> Model:
    path = path or HERE / "model.tsv"
    weights: dict[int, tuple[float, float]] = {}
    compound_weight = (0.0, 0.0)
    threshold = 0.0
    rules = False
    for line in path.read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, *values = line.split("\t")
        if key == "threshold":
            threshold = float(values[0])
        elif key == "rules":
            rules = values[0] == "1"
        elif key == "compound":
            compound_weight = (float(values[0]), float(values[1]))
        elif key != "id":
            weights[int(key)] = (float(values[0]), float(values[1]))
    return Model(weights, compound_weight, threshold, rules)
