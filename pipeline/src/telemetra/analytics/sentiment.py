"""Chat sentiment: VADER's rules, re-implemented for speed, made aware of emotes, emoji and chat slang.

``score(text, emotes)`` returns VADER's *compound* score in [-1, 1]; ``classify`` buckets it with VADER's
standard ±0.05 thresholds. Word valences come from the VADER 3.3.2 lexicon (Hutto & Gilbert, ICWSM 2014;
package ``vadersentiment``, MIT), plus three small data files here: ``chat_lexicon.tsv`` (chat senses and
slang that VADER gets wrong or lacks: "sick", "W", "L", "pog", "let's go"), ``emote_lexicon.tsv`` (via
``emotes``) and ``emoji_valence.tsv``.

The rules are VADER's: valences are summed over the message and normalised with x / sqrt(x² + 15); a word
in ALL CAPS gains emphasis when the message mixes case; boosters ("very", "so") and dampeners ("kinda")
before an item shift it, less with distance; a negation up to three tokens before an item flips and
shrinks it (× -0.74); "no" as a determiner negates the next item; "never so/this" intensifies; "without
doubt" and "at least" do not negate; items before "but" count half and after it one and a half times; each
"!" (up to 4) and "??"/"???" add emphasis away from zero. Deliberate differences from the reference code:

- emotes carry their own valence and are case-sensitive: "LUL" is the emote, "lul" a word (which the chat
  lexicon also rates, like "pog" and "kekw"); emote and emoji tokens take no caps emphasis and do not
  count in the caps differential, nor do tokens without letters ("!!!", "123");
- when ``emotes`` is given, those tokens are emotes (names with no known valence are neutral); well-known
  emote names are recognised from the text either way, because Twitch's IRC tags list no BTTV/FFZ/7TV
  emotes while "KEKW" means the same to every reader. "KEKW!" (punctuation attached) also scores as KEKW;
- elongation: a word not in the lexicon with a letter repeated 3+ times is collapsed to two, then one,
  letter ("goood" → "good", "sooo" → "so"); an elongated sentiment word gains one booster's emphasis
  (lengthening signals intensity: Brody & Diakopoulos, EMNLP 2011). Laughter of any length ("hahahaha",
  "lolol") is read as "haha"/"hahaha"/"lol";
- emoji are separate items even when glued to words or to each other ("nice🔥🔥"), valued by
  ``emoji_valence.tsv``, else by VADER's own method (sum of the valences of the emoji's name);
- sarcasm emotes (Kappa, Keepo, Clueless) halve the message's sentiment: the literal sign is unreliable;
- fixes: "gg!" keeps the valence of "gg" (the reference keeps short tokens whole and misses it), "but"
  weights apply by position (the reference mis-assigns repeated values), "never … so" is matched as the
  paper describes (an operator-precedence slip in the reference also multiplies by 1.25 any item that
  follows "so"/"this" from the fourth token on), the "kind of" dampener moves negative items toward zero
  too, and idioms count once wherever they occur.

Everything is loaded once at import; the functions are pure and deterministic. ``score`` memoises recent
``(text, emotes)`` pairs in a bounded LRU cache (chat repeats itself a lot); ``score_uncached`` bypasses
it. Both memoise the analysis of each distinct token in a bounded dict.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Sequence
from functools import lru_cache
from importlib import resources
from operator import itemgetter
from typing import Final, Literal, NamedTuple

from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

from telemetra.analytics.emotes import EMOTES, MAX_VALENCE

Sentiment = Literal["positive", "neutral", "negative"]

# VADER's standard classification thresholds for the compound score.
POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05

# VADER's empirically derived constants (vaderSentiment 3.3.2).
B_INCR: Final = 0.293  # booster word
C_INCR: Final = 0.733  # ALL CAPS word in a mixed-case message
N_SCALAR: Final = -0.74  # negation
ALPHA: Final = 15.0  # normalisation: x / sqrt(x² + ALPHA)
EXCLAMATION_INCR: Final = 0.292
MAX_EXCLAMATIONS: Final = 4
QUESTION_INCR: Final = 0.18
MAX_QUESTION_EMPHASIS: Final = 0.96
BEFORE_BUT: Final = 0.5
AFTER_BUT: Final = 1.5
NEVER_SO: Final = 1.25
DISTANCE_DAMPING: Final = (1.0, 0.95, 0.9)  # booster effect by distance (1, 2, 3 tokens before the item)

# Ours.
ELONGATION_INCR: Final = B_INCR  # "goooood" is as emphatic as "very good"
SARCASM_DAMPING: Final = 0.5
CACHE_SIZE: Final = 16_384  # (text, emotes) pairs memoised by score()
MEMO_LIMIT: Final = 100_000  # distinct tokens whose analysis is memoised (~10 MB; cleared when full)

_DATA = resources.files("telemetra.analytics").joinpath("data")
_VADER = resources.files("vaderSentiment")


def _tsv_rows(text: str) -> Iterator[list[str]]:
    """Rows of a data file, without comments and the column header."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines[1:]:
        yield line.split("\t")


def _vader_lexicon() -> dict[str, float]:
    # Same parsing as the reference: first two columns, a later duplicate ("lol", "lmao") wins.
    lexicon: dict[str, float] = {}
    for line in _VADER.joinpath("vader_lexicon.txt").read_text("utf-8").splitlines():
        if line.strip():
            word, measure = line.strip().split("\t")[:2]
            lexicon[word] = float(measure)
    return lexicon


def _chat_lexicon() -> tuple[dict[str, float], dict[tuple[str, ...], float]]:
    words: dict[str, float] = {}
    phrases: dict[tuple[str, ...], float] = {}
    for term, valence, *_ in _tsv_rows(_DATA.joinpath("chat_lexicon.tsv").read_text("utf-8")):
        parts = tuple(term.split())
        if len(parts) == 1:
            words[term] = float(valence)
        else:
            phrases[parts] = float(valence)
    return words, phrases


def _clamp(value: float) -> float:
    return max(-MAX_VALENCE, min(MAX_VALENCE, value))


def _emoji_valences(lexicon: dict[str, float]) -> dict[str, float]:
    # Fallback first: VADER's method (score the words of the emoji's name), then the checked table on top.
    valences: dict[str, float] = {}
    for line in _VADER.joinpath("emoji_utf8_lexicon.txt").read_text("utf-8").splitlines():
        emoji, _, name = line.strip().partition("\t")
        if len(emoji) == 1:  # sequences (flags, keycaps) never survive our per-character split
            valences[emoji] = _clamp(sum(lexicon.get(word.lower(), 0.0) for word in name.split()))
    for emoji, valence, *_ in _tsv_rows(_DATA.joinpath("emoji_valence.tsv").read_text("utf-8")):
        valences[emoji] = float(valence)
    return valences


VADER_LEXICON: Final = _vader_lexicon()
_CHAT_WORDS, _PHRASES = _chat_lexicon()
_WORDS: Final = {**VADER_LEXICON, **_CHAT_WORDS}
EMOJI_VALENCE: Final = _emoji_valences(VADER_LEXICON)
# A chat-lexicon word stops being a booster ("incredible" alone is praise in chat, not an intensifier).
_BOOSTERS: Final = {w: v for w, v in BOOSTER_DICT.items() if " " not in w and w not in _CHAT_WORDS}
_BIGRAM_BOOSTERS: Final = {tuple(w.split()): v for w, v in BOOSTER_DICT.items() if " " in w}
_NEGATIONS: Final = frozenset(NEGATE)
_PHRASE_TAILS: Final = frozenset(p[-1] for p in _PHRASES)
_STRUCTURAL: Final = frozenset(
    ("but", "no", "never", "so", "this", "without", "doubt", "least", "at", "very", "of")
)
_INTENSIFY_AFTER_NEVER: Final = frozenset(("so", "this"))
# Words that trigger a rule on their own (negations and boosters aside); "this", "at", "or", "doubt"… only
# matter next to one of these, so a message without any is scored by a plain sum.
_TRIGGERS: Final = frozenset(
    ("no", "but", "least", "kind", *(w for w, _ in _BIGRAM_BOOSTERS), *_PHRASE_TAILS)
)
# Every normalised form a rule can act on; elongated words are collapsed until they land in here.
_VOCAB: Final = frozenset(
    [*_WORDS, *_BOOSTERS, *_NEGATIONS, *_STRUCTURAL, *(w for p in _PHRASES for w in p), "kind", "lol"]
)

_PUNCTUATION: Final = string.punctuation + "…‘’“”«»¡¿"
_RUN3: Final = re.compile(r"(\w)\1{2,}")
_HAHA: Final = re.compile(r"(?:a?h+a+){2,}h*")
_LOLOL: Final = re.compile(r"l(?:ol)+")
# Skin tones, variation selectors, joiners and keycaps only modify the emoji they follow.
_EMOJI_MODIFIERS: Final = frozenset(
    ["\ufe0e", "\ufe0f", "\u200d", "\u20e3", *map(chr, range(0x1F3FB, 0x1F400))]
)


class _Tok(NamedTuple):
    """What the rules need to know about one token (memoised per distinct token)."""

    valence: float  # the item's own valence; 0.0 when it carries none
    item: bool  # carries sentiment of its own (VADER: "in the lexicon")
    booster: float  # booster (+) or dampener (-) scalar for the items after it
    negation: bool
    shouting: bool  # a word typed in ALL CAPS
    cased: bool  # a word with letters: counts towards the caps differential
    norm: str  # normalised word for the structural rules; "" for emotes and emoji
    sarcasm: bool
    simple: bool  # no rule can touch it: in a message of simple tokens the score is the plain sum


_VALENCE: Final = itemgetter(0)
_SIMPLE: Final = itemgetter(8)


def _symbol(valence: float, sarcasm: bool = False) -> _Tok:
    """An emote or emoji: fixed valence, no case, no role in the structural rules."""
    return _Tok(valence, valence != 0.0, 0.0, False, False, False, "", sarcasm, not sarcasm)


_EMOTE_TOKS: Final = {name: _symbol(e.valence, e.sarcasm) for name, e in EMOTES.items()}
_UNKNOWN_EMOTE: Final = _symbol(0.0)
# Words that no rule knows differ only in case, which the caps differential counts.
_PLAIN_UNCASED: Final = _Tok(0.0, False, 0.0, False, False, False, "", False, True)
_PLAIN_CASED: Final = _PLAIN_UNCASED._replace(cased=True)
_PLAIN_SHOUTING: Final = _PLAIN_CASED._replace(shouting=True)
_EMOJI_TOKS: Final = {emoji: _symbol(valence) for emoji, valence in EMOJI_VALENCE.items()}


def _is_emoji(char: str) -> bool:
    # Pictographs and dingbats are emoji even when no table knows them; they must not glue to words.
    return char in _EMOJI_TOKS or "\U0001f000" <= char <= "\U0001faff" or "\u2600" <= char <= "\u27bf"


def _split_emoji(tokens: list[str]) -> list[str]:
    """Split emoji out of tokens ("nice🔥🔥" → "nice", "🔥", "🔥") and drop their modifiers."""
    out: list[str] = []
    for token in tokens:
        if token.isascii():
            out.append(token)
            continue
        word: list[str] = []
        for char in token:
            if char in _EMOJI_MODIFIERS:
                continue
            if _is_emoji(char):
                if word:
                    out.append("".join(word))
                    word.clear()
                out.append(char)
            else:
                word.append(char)
        if word:
            out.append("".join(word))
    return out


def _normalise(word: str, raw: str) -> tuple[str, bool] | None:
    """The lexicon form of a lowercase word and whether it was elongated; None for a word no rule knows."""
    if raw in _VOCAB:  # emoticons whose punctuation is the point: ":d", ":-)", "</3"
        return raw, False
    if word in _VOCAB:
        return word, False
    if _RUN3.search(word):
        for candidate in (_RUN3.sub(r"\1\1", word), _RUN3.sub(r"\1", word)):
            if candidate in _VOCAB:
                return candidate, True
    if word[:1] in ("a", "h") and _HAHA.fullmatch(word):
        return ("hahaha" if len(word) >= 6 else "haha"), False
    if word[:1] == "l" and _LOLOL.fullmatch(word):
        return "lol", False
    if "n't" in word:  # "shouldn't've": still a negation
        return word, False
    return None


def _word(stripped: str, raw: str) -> _Tok:
    word = stripped.lower()
    if "’" in word:
        word = word.replace("’", "'")
    shouting = stripped.isupper()
    cased = shouting or stripped.upper() != word
    found = _normalise(word, raw.lower())
    if found is None:  # most tokens: names, numbers, filler words; no valence, no role
        return _PLAIN_SHOUTING if shouting else (_PLAIN_CASED if cased else _PLAIN_UNCASED)
    norm, elongated = found
    valence = _WORDS.get(norm, 0.0)
    if elongated and valence:
        valence += ELONGATION_INCR if valence > 0 else -ELONGATION_INCR
    booster = _BOOSTERS.get(norm, 0.0)
    negation = norm in _NEGATIONS or "n't" in norm
    # A shouting item needs the caps rule, which depends on the rest of the message.
    simple = not (booster or negation or norm in _TRIGGERS or (shouting and valence))
    return _Tok(valence, valence != 0.0, booster, negation, shouting, cased, norm, False, simple)


def _analyse(token: str) -> _Tok:
    symbol = _EMOTE_TOKS.get(token) or _EMOJI_TOKS.get(token)
    if symbol is not None:
        return symbol
    stripped = token.strip(_PUNCTUATION)
    if not stripped:  # punctuation only, or an emoticon such as ":)"
        return _word(token, token)
    # "KEKW!" is not rendered as an emote (so not counted as one), but its meaning is plain.
    return _EMOTE_TOKS.get(stripped) or _word(stripped, token)


_MEMO: dict[str, _Tok] = {}


def _remember(token: str) -> _Tok:
    if len(_MEMO) >= MEMO_LIMIT:  # bounded; chat vocabulary is Zipfian, so the hot tokens return at once
        _MEMO.clear()
    tok = _MEMO[token] = _analyse(token)
    return tok


def _apply_phrases(toks: list[_Tok]) -> list[_Tok]:
    """Idioms ("let's go", "yeah right"): the last word carries the phrase's valence, the rest fall silent."""
    out = list(toks)
    for end in range(1, len(out)):
        if out[end].norm not in _PHRASE_TAILS:
            continue
        for size in (3, 2):
            start = end - size + 1
            valence = _PHRASES.get(tuple(t.norm for t in out[start : end + 1])) if start >= 0 else None
            if valence is not None:
                for i in range(start, end):
                    out[i] = out[i]._replace(valence=0.0, item=False)
                out[end] = out[end]._replace(valence=valence, item=valence != 0.0)
                break
    return out


def _negated(toks: list[_Tok], i: int, distance: int, value: float) -> float:
    """VADER's negation check for the non-item token ``distance + 1`` places before item ``i``."""
    if distance == 0:
        return value * N_SCALAR if toks[i - 1].negation else value
    nearer = [t.norm for t in toks[i - distance : i]]  # tokens between the negation candidate and the item
    far = toks[i - distance - 1]
    if far.norm == "never" and _INTENSIFY_AFTER_NEVER.intersection(nearer):
        return value * NEVER_SO  # "never so good", "never been this good": emphasis, not negation
    if far.norm == "without" and "doubt" in nearer:
        return value  # "without a doubt, great"
    return value * N_SCALAR if far.negation else value


def _boost(prev: _Tok, value: float, cap_diff: bool) -> float:
    scalar = prev.booster if value >= 0 else -prev.booster
    if cap_diff and prev.shouting:  # "VERY good"
        scalar += C_INCR if value > 0 else -C_INCR
    return scalar


def _modified(toks: list[_Tok], i: int, value: float, cap_diff: bool) -> float:
    """Apply boosters, dampeners and negations from the three tokens before item ``i``."""
    for distance in range(min(3, i)):
        prev = toks[i - distance - 1]
        if prev.item:  # VADER: only words without sentiment of their own modify
            continue
        if prev.booster:
            value += _boost(prev, value, cap_diff) * DISTANCE_DAMPING[distance]
        value = _negated(toks, i, distance, value)
    for start in (i - 2, i - 3):  # "kind of good", "sort of a good"
        if start >= 0 and (bigram := (toks[start].norm, toks[start + 1].norm)) in _BIGRAM_BOOSTERS:
            scalar = _BIGRAM_BOOSTERS[bigram]
            value += scalar if value >= 0 else -scalar
    return value


def _after_no(toks: list[_Tok], i: int) -> bool:
    """ "no good", "no real good", "no X or good": "no" negates the item."""
    return (
        (i > 0 and toks[i - 1].norm == "no")
        or (i > 1 and toks[i - 2].norm == "no")
        or (i > 2 and toks[i - 3].norm == "no" and toks[i - 1].norm in ("or", "nor"))
    )


def _least(toks: list[_Tok], i: int, value: float) -> float:
    # "least good" negates; "at least good" and "very least" do not.
    if i > 0 and toks[i - 1].norm == "least" and not (i > 1 and toks[i - 2].norm in ("at", "very")):
        return value * N_SCALAR
    return value


def _item_valence(toks: list[_Tok], i: int, cap_diff: bool) -> float:
    tok = toks[i]
    value = tok.valence
    if tok.norm == "no" and i + 1 < len(toks) and toks[i + 1].item:
        value = 0.0  # a determiner: "no" negates the next item instead of counting itself
    if _after_no(toks, i):
        value = tok.valence * N_SCALAR
    if cap_diff and tok.shouting and value:
        value += C_INCR if value > 0 else -C_INCR
    value = _modified(toks, i, value, cap_diff)
    return _least(toks, i, value)


def _punctuation_emphasis(text: str) -> float:
    emphasis = min(text.count("!"), MAX_EXCLAMATIONS) * EXCLAMATION_INCR
    questions = text.count("?")
    if questions > 1:
        emphasis += questions * QUESTION_INCR if questions <= 3 else MAX_QUESTION_EMPHASIS
    return emphasis


def _normalised(total: float, text: str, sarcastic: bool) -> float:
    if not total:
        return 0.0
    emphasis = _punctuation_emphasis(text)
    total += emphasis if total > 0 else -emphasis
    if sarcastic:
        total *= SARCASM_DAMPING
    return max(-1.0, min(1.0, total / math.sqrt(total * total + ALPHA)))


def _compound(toks: list[_Tok], text: str) -> float:
    if all(map(_SIMPLE, toks)):  # most chat lines: emotes, emoji and plain words only
        return _normalised(sum(map(_VALENCE, toks)), text, False)
    if any(t.norm in _PHRASE_TAILS for t in toks):
        toks = _apply_phrases(toks)
    items = [i for i, t in enumerate(toks) if t.item]
    cased = [t.shouting for t in toks if t.cased]
    cap_diff = 0 < sum(cased) < len(cased)
    norms = [t.norm for t in toks]
    but_at = norms.index("but") if "but" in norms else -1
    total = 0.0
    for i in items:
        if toks[i].norm == "kind" and i + 1 < len(toks) and toks[i + 1].norm == "of":
            continue  # "kind of" is a dampener here, not the adjective "kind"
        value = _item_valence(toks, i, cap_diff)
        if but_at >= 0:
            value *= BEFORE_BUT if i < but_at else AFTER_BUT
        total += value
    return _normalised(total, text, any(t.sarcasm for t in toks))


def score_uncached(text: str, emotes: Sequence[str] | None = None) -> float:
    """Same as ``score``, without the LRU cache (for benchmarks and batches of distinct lines)."""
    tokens = text.split()
    if not tokens:
        return 0.0
    if not text.isascii():
        tokens = _split_emoji(tokens)
    memo = _MEMO.get
    # Known emotes read the same whether given or recognised; only unknown given names need the slow path.
    unknown = set(emotes).difference(_EMOTE_TOKS) if emotes else None
    if unknown:
        toks = [_UNKNOWN_EMOTE if t in unknown else memo(t) or _remember(t) for t in tokens]
    else:
        toks = [memo(t) or _remember(t) for t in tokens]
    return _compound(toks, text)


@lru_cache(maxsize=CACHE_SIZE)
def _score_cached(text: str, emotes: tuple[str, ...]) -> float:
    return score_uncached(text, emotes)


def score(text: str, emotes: Sequence[str] | None = None) -> float:
    """Sentiment of one chat message: VADER's compound score in [-1, 1] (0.0 for empty or neutral text).

    ``emotes``: the emote names of the message in order of appearance (from the event); those tokens are read
    as emotes. Without it, well-known emotes are recognised from the text (they are in either case).
    """
    if not text:
        return 0.0
    return _score_cached(text, tuple(emotes) if emotes else ())


def clear_cache() -> None:
    """Forget memoised scores and token analyses (results do not change; only speed does)."""
    _score_cached.cache_clear()
    _MEMO.clear()


def classify(value: float) -> Sentiment:
    """VADER's standard buckets: ≥ 0.05 positive, ≤ -0.05 negative, otherwise neutral."""
    if value >= POSITIVE_THRESHOLD:
        return "positive"
    if value <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"
