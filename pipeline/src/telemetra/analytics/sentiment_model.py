"""The learned layer of chat sentiment: multinomial logistic regression over hashed features of one message.

Trained offline on Telemetra's own labelled Twitch chat (``bench/sentiment_eval/train_model.py``, on
``train.tsv`` only; never on the evaluation set) and shipped as ``data/sentiment_model.tsv``, whose header
states its sources and licence. Inference is pure Python and deterministic: features are hashed with
``zlib.crc32`` (not Python's salted ``hash``) into ``2**BITS`` slots, and the lexicon layer
(``telemetra.analytics.lexicon``) runs in the same pass: its compound score and its per-token polarities are
features too, so the model corrects the lexicon rather than replacing it.

Features (binary, except ``compound``; per *distinct* token and bigram, so spam does not multiply them):

- ``u:<word>``: every token, lower-cased, stripped of surrounding punctuation, runs of 3+ equal characters
  squeezed to 2 ("LULLLL" → "lull", "goooood" → "good"), numbers as ``<num>``;
- bigrams of those words, and ``<s>`` + the first word (ids derived arithmetically from the two word ids);
- ``f:<suffix>``: the family of a subscriber-shaped emote, its part from the first capital on, lower-cased
  ("lionNice" → "nice", "moon2SMUG" → "smug", "forsenPls" → "pls");
- the lexicon: its compound score (real-valued) and the score bucketed (9 buckets), the number of positive
  and of negative lexicon items among the distinct tokens (0, 1, 2, 3+), both signs present;
- message shape: length in tokens (6 buckets), all caps, laughter, laughter together with a negative item, a
  negation word, "?" and "!", emote-only messages (a bare hype emote is often read as neutral);
- a bias.

``Model.margin`` returns ``p(positive) - p(negative)``; ``Model.threshold`` is the margin that counts as
polar (chosen by cross-validation). ``features`` is the reference definition, used for training;
``Model.logits`` computes the same sum with per-token memos, and a test keeps the two equal.
"""

from __future__ import annotations

import math
import re
import string
import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import repeat
from operator import and_, mul, xor
from typing import Final, NamedTuple

from telemetra.analytics import lexicon
from telemetra.analytics.emotes import KNOWN_EMOTES

BITS: Final = 18
MASK: Final = (1 << BITS) - 1
LABELS: Final = ("positive", "neutral", "negative")
MEMO_LIMIT: Final = 100_000  # distinct tokens memoised (cleared when full, like the lexicon's own memo)
PAIR_FACTOR: Final = 1_000_003
COMPOUND_EDGES: Final = (
    -0.75,
    -0.5,
    -0.25,
    -0.05,
    0.05,
    0.25,
    0.5,
    0.75,
)  # bucket i: edges[i-1] <= x < edges[i]
LENGTH_EDGES: Final = (2, 3, 4, 7, 13)
_LENGTHS: Final = len(LENGTH_EDGES) + 1
MESSAGE_KEYS: Final = 1024

_PUNCT: Final = string.punctuation + "…‘’“”«»¡¿"
_RUN3: Final = re.compile(r"(.)\1{2,}")
_SUB_EMOTE: Final = re.compile(r"^[a-z][a-z0-9]{1,14}([A-Z][A-Za-z0-9]+)$")
_LAUGH: Final = re.compile(
    r"^(?:(?:a?h+a+){2,}h*|l+(?:o+l+)+|l+u+l+w?|lm+a+o+|lmf+a+o+|ke+k+w?|x+d+|rofl|omegalul|lulw|kekw)$"
)
_LAUGH_EMOTE: Final = re.compile(r"(?:LUL|KEKW|LOL|4Head|EleGiggle|Giggle)")
_NUMBER: Final = re.compile(r"^[0-9][0-9.,:/%]*$")


def hashed(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) & MASK


_START: Final = hashed("<s>")
_COMPOUND_IDS: Final = tuple(hashed(f"c:{i}") for i in range(len(COMPOUND_EDGES) + 1))
_LENGTH_IDS: Final = tuple(hashed(f"len:{i}") for i in range(len(LENGTH_EDGES) + 1))
_POS_IDS: Final = tuple(hashed(f"np:{i}") for i in range(4))
_NEG_IDS: Final = tuple(hashed(f"nn:{i}") for i in range(4))
BIAS: Final = hashed("bias")
# Message flags, in bit order.
_FLAG_IDS: Final = tuple(
    hashed(name) for name in ("pos+neg", "laugh", "laugh+neg", "negation", "?", "!", "emote-only", "caps")
)

# Per-token facts packed into one int, so that a message's totals are one C-level sum: counts in 20-bit fields.
_FIELD: Final = 20
_POS, _NEG, _LAUGHS, _NEGATIONS, _NON_EMOTES = (1 << (_FIELD * i) for i in range(5))
_FIELD_MASK: Final = (1 << _FIELD) - 1
_LAUGH_SHIFT, _NEGATION_SHIFT, _NON_EMOTE_SHIFT = 2 * _FIELD, 3 * _FIELD, 4 * _FIELD


class Token(NamedTuple):
    """What the model needs to know about one distinct token (memoised)."""

    word: int  # u:<word>
    family: int  # f:<suffix>, -1 when none
    code: int  # packed: positive items, negative items, laughter, negation, not an emote


def _token(text: str) -> Token:
    stripped = text.strip(_PUNCT) or text
    lower = stripped.islower()
    number = stripped[0].isdigit() and _NUMBER.match(stripped)
    word = stripped.lower()
    if number:
        word = "<num>"
    elif len(set(word)) <= len(word) - 2:  # a run of 3 equal characters needs 2 repeats
        word = _RUN3.sub(r"\1\1", word)
    match = None if lower else _SUB_EMOTE.match(stripped)
    family = hashed("f:" + match[1].lower()) if match and len(match[1]) >= 2 else -1
    laugh = bool(_LAUGH.match(word)) or (not lower and bool(_LAUGH_EMOTE.search(stripped)))
    emote = stripped in KNOWN_EMOTES or match is not None
    positive, negative, negation = lexicon.polarity(text)
    code = positive * _POS + negative * _NEG + laugh * _LAUGHS + negation * _NEGATIONS
    return Token(hashed("u:" + word), family, code + (not emote) * _NON_EMOTES)


_MEMO: dict[str, Token] = {}


def token(text: str) -> Token:
    found = _MEMO.get(text)
    if found is None:
        if len(_MEMO) >= MEMO_LIMIT:
            _MEMO.clear()
        found = _MEMO[text] = _token(text)
    return found


def _pairs(words: list[int]) -> set[int]:
    """Bigram ids ``((a * PAIR_FACTOR) ^ b) & MASK`` of consecutive word ids, ``<s>`` first."""
    firsts = map(mul, [_START, *words[:-1]], repeat(PAIR_FACTOR))
    return set(map(and_, map(xor, firsts, words), repeat(MASK)))


def _message(text: str, code: int) -> int:
    """Message-level facts in one int: positive items (0-3), negative items (0-3) << 2, then the bits laugh 16,
    negation 32, emote-only 64, "?" 128, "!" 256, all caps 512."""
    pos = code & _FIELD_MASK
    neg = code >> _FIELD & _FIELD_MASK
    key = min(pos, 3) | min(neg, 3) << 2
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


def message_ids(key: int) -> list[int]:
    """Feature ids of a message key (``_message``)."""
    pos, neg = key & 3, key >> 2 & 3
    laugh = bool(key & 16)
    flags = (pos > 0 and neg > 0, laugh, laugh and neg > 0, bool(key & 32), bool(key & 128),
             bool(key & 256), bool(key & 64), bool(key & 512))  # fmt: skip
    return [_POS_IDS[pos], _NEG_IDS[neg]] + [fid for fid, on in zip(_FLAG_IDS, flags, strict=True) if on]


def features(text: str) -> tuple[list[int], float]:
    """Feature ids of a message and its lexicon compound score (the reference definition, for training)."""
    tokens = text.split()
    if not tokens:
        return [BIAS], 0.0
    compound = lexicon.score(text)
    toks = [token(t) for t in tokens]
    distinct = dict(zip(tokens, toks, strict=True)).values()
    ids = [t.word for t in distinct] + [t.family for t in distinct if t.family >= 0]
    ids += _pairs([t.word for t in toks])
    ids += [BIAS, _COMPOUND_IDS[bisect_right(COMPOUND_EDGES, compound)]]
    ids.append(_LENGTH_IDS[bisect_right(LENGTH_EDGES, len(tokens))])
    ids += message_ids(_message(text, sum(t.code for t in distinct)))
    return ids, compound


@dataclass
class Model:
    """Logits relative to neutral: ``weights[id] = (w_positive, w_negative)``; ``compound_weight`` multiplies
    the lexicon compound score; ``threshold``: the ``p(positive) - p(negative)`` margin that counts as polar.

    Each weight pair is also stored as one complex number (positive + negative·j), so that summing a
    message's weights runs in C; per distinct token, its word and family weights are memoised together."""

    weights: dict[int, tuple[float, float]]
    compound_weight: tuple[float, float]
    threshold: float
    packed: dict[int, complex] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.packed = {i: complex(p, n) for i, (p, n) in self.weights.items()}
        get = self.packed.get
        self._memo: dict[str, tuple[int, complex, int, int]] = {}
        self._compound = complex(*self.compound_weight)
        self._bias = get(BIAS, 0j)
        self._start = _START * PAIR_FACTOR & MASK
        # The weights of the message-level features in one table: compound bucket × length bucket × message key.
        messages = [sum(map(get, message_ids(key), repeat(0j))) for key in range(MESSAGE_KEYS)]
        self._tail = [
            get(c, 0j) + get(n, 0j) + m for c in _COMPOUND_IDS for n in _LENGTH_IDS for m in messages
        ]

    def _entry(self, text: str) -> tuple[int, complex, int, int]:
        """Word id, word + family weight, packed code, (word id × PAIR_FACTOR) & MASK."""
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        tok = token(text)
        get = self.packed.get
        weight = get(tok.word, 0j) + (get(tok.family, 0j) if tok.family >= 0 else 0j)
        found = self._memo[text] = (tok.word, weight, tok.code, tok.word * PAIR_FACTOR & MASK)
        return found

    def logits(self, text: str, emotes: Sequence[str] | None = None) -> tuple[float, float]:
        """Positive and negative logits (neutral's is 0); the same sum as over ``features(text)``."""
        tokens = text.split()
        if not tokens:
            return self._bias.real, self._bias.imag
        compound = lexicon.score(text, emotes, tokens)
        memo = self._memo.get
        entries = [memo(t) or self._entry(t) for t in tokens]
        words, weights, codes, scaled = zip(*entries, strict=True)
        if len(set(tokens)) < len(tokens):  # a repeated token counts once
            distinct = dict(zip(tokens, entries, strict=True)).values()
            weights = tuple(e[1] for e in distinct)
            codes = tuple(e[2] for e in distinct)
        total = sum(weights, self._bias + self._compound * compound)
        pairs = set(map(xor, (self._start, *scaled[:-1]), words))  # word ids < 2**BITS: no mask needed
        total += sum(map(self.packed.get, pairs, repeat(0j)))
        bucket = bisect_right(COMPOUND_EDGES, compound) * _LENGTHS + bisect_right(LENGTH_EDGES, len(tokens))
        total += self._tail[bucket * MESSAGE_KEYS + _message(text, sum(codes))]
        return total.real, total.imag

    def margin(self, text: str, emotes: Sequence[str] | None = None) -> float:
        """``p(positive) - p(negative)`` in [-1, 1]."""
        pos, neg = self.logits(text, emotes)
        if pos > 700.0 or neg > 700.0:  # never with trained weights; exp would overflow
            p_pos, _, p_neg = softmax(pos, neg)
            return p_pos - p_neg
        ep = math.exp(pos)
        en = math.exp(neg)
        return (ep - en) / (1.0 + ep + en)

    def clear_memo(self) -> None:
        """Forget memoised token analyses (results do not change; only speed does)."""
        self._memo.clear()
        _MEMO.clear()


def softmax(pos: float, neg: float) -> tuple[float, float, float]:
    """p(positive), p(neutral), p(negative) from the logits relative to neutral."""
    top = max(pos, neg, 0.0)
    ep = math.exp(pos - top)
    en = math.exp(neg - top)
    e0 = math.exp(-top)
    total = ep + en + e0
    return ep / total, e0 / total, en / total


def parse(text: str) -> Model:
    """A model from the text of a weights file (``train_model.py`` writes them)."""
    weights: dict[int, tuple[float, float]] = {}
    compound_weight = (0.0, 0.0)
    threshold = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, *values = line.split("\t")
        if key == "threshold":
            threshold = float(values[0])
        elif key == "compound":
            compound_weight = (float(values[0]), float(values[1]))
        elif key != "id":
            weights[int(key)] = (float(values[0]), float(values[1]))
    if threshold is None or not 0.0 < threshold < 1.0:
        raise ValueError(f"sentiment model: threshold {threshold} missing or outside (0, 1)")
    return Model(weights, compound_weight, threshold)


def load() -> Model:
    """The shipped model (``data/sentiment_model.tsv``)."""
    data = resources.files("telemetra.analytics").joinpath("data/sentiment_model.tsv")
    return parse(data.read_text("utf-8"))
