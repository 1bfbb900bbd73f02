"""The lexicon layer of chat sentiment: VADER's rules, re-implemented for speed, made aware of emotes, emoji
and chat slang. ``sentiment`` puts a learned layer on top of it (``sentiment_model``).

``score(text, emotes)`` returns VADER's *compound* score in [-1, 1] (uncached; ``sentiment.score`` caches).
Word valences come from the VADER 3.3.2 lexicon (Hutto & Gilbert, ICWSM 2014; package ``vadersentiment``,
MIT), plus the data files here, each stating its sources and licence: ``chat_lexicon.tsv`` (chat senses and
slang that VADER gets wrong or lacks: "sick", "W", "L", "pog", "let's go"), ``emote_lexicon.tsv`` (via
``emotes``), ``emoji_valence.tsv``, and for emotes the lexicon does not list, ``emote_names.tsv`` (1,000+
Twitch global, BTTV and 7TV names) and ``emote_families.tsv`` (subscriber-emote suffixes with valences derived
by a repeatable method: ``bench/sentiment_eval/derive_lexicon.py``).

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
- chat's own rules (issue 17; measured in ``bench/results/sentiment_quality.md``):
  - emote variants: a case or elongation variant of a lexicon emote ("Biblethump", "KEKWW", "LULLL") reads
    as the emote, unless it is a lower-case word the lexicon rates ("lul");
  - emote families: an unknown emote-shaped token (a listed name, "lionNice", "AlienPls") takes the valence
    of its trailing part when that part is a lexicon emote, a morpheme shared by lexicon emotes of one sign
    ("Pls", "Happy"), a valued family suffix or a VADER word ("seagPog", "moon2WHINE"); a name with a
    laughter emote in it laughs ("MEGALUL"); Twitch/BTTV global names are whole names, never split;
  - emote scope: an emote is the writer's reaction to the whole line, so the words before it (negations,
    boosters, "no", caps) do not modify it: "no blitz ball FeelsBadMan" stays sad;
  - mockery: laughter in a line that also carries a negative item is negative ("you're trash LUL");
  - slang: 1-2 letter lexicon entries that are texting abbreviations ("bl", "jw") carry nothing, nor do
    single letters of an emoticon (":L") or of a spelled-out word ("W O W"); "w"/"l" are a win/loss when
    typed in upper case or in a line of at most two tokens;
  - expletives: exclamations and crude nouns ("oh god", "what the hell", "please", "wtf") carry nothing of
    their own in chat;
- fixes: "gg!" keeps the valence of "gg" (the reference keeps short tokens whole and misses it), "but"
  weights apply by position (the reference mis-assigns repeated values), "never … so" is matched as the
  paper describes (an operator-precedence slip in the reference also multiplies by 1.25 any item that
  follows "so"/"this" from the fourth token on), the "kind of" dampener moves negative items toward zero
  too, and idioms count once wherever they occur.

Everything is loaded once at import; the functions are pure and deterministic. The analysis of each distinct
token is memoised in a bounded dict.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Sequence
from importlib import resources
from operator import itemgetter
from typing import Final, NamedTuple

from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

from telemetra.analytics.emotes import EMOTES, MAX_VALENCE

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
MOCKERY: Final = -0.5  # laughter next to a negative item: its valence, negated and halved
LAUGH_VALENCE: Final = 1.8  # LUL's, for a laughing word with no valence of its own ("kek")
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


def _emote_names() -> dict[str, str]:
    """Emote names beyond the lexicon, with the list they come from."""
    rows = _tsv_rows(_DATA.joinpath("emote_names.tsv").read_text("utf-8"))
    return {name: origin for name, origin in rows}


def _families() -> tuple[frozenset[str], dict[str, float]]:
    """Subscriber-emote suffixes, and the valences of those with a known meaning."""
    suffixes: set[str] = set()
    valences: dict[str, float] = {}
    for suffix, _, valence, _ in _tsv_rows(_DATA.joinpath("emote_families.tsv").read_text("utf-8")):
        suffixes.add(suffix)
        if valence != "-":
            valences[suffix] = float(valence)
    return frozenset(suffixes), valences


_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _shared_morphemes() -> dict[str, float]:
    """Trailing morphemes of 2+ lexicon emotes that agree in sign ("Pls", "JAM", "Happy"): their mean valence."""
    groups: dict[str, list[float]] = {}
    for name, emote in EMOTES.items():
        parts = _CAMEL_BOUNDARY.split(name)
        if len(parts) > 1 and len(parts[-1]) >= 2:
            groups.setdefault(parts[-1], []).append(emote.valence)
    return {
        morpheme: sum(values) / len(values)
        for morpheme, values in groups.items()
        if len(values) >= 2 and (all(v > 0 for v in values) or all(v < 0 for v in values))
    }


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

_EMOTE_NAMES: Final = _emote_names()
_GLOBAL_NAMES: Final = frozenset(n for n, origin in _EMOTE_NAMES.items() if not origin.startswith("7tv"))
_SUFFIXES, _SUFFIX_VALENCE = _families()
_MORPHEMES: Final = _shared_morphemes()
# Laughter: emotes whose valence comes from a laughing word, laughing words, and names with a laughing part.
_LAUGH_BASES: Final = ("vader:lol", "vader:haha", "vader:hahaha", "vader:lmao", "vader:laugh", "vader:xd")
_LAUGH_EMOTES: Final = frozenset(n for n, e in EMOTES.items() if e.basis in _LAUGH_BASES)
_LAUGH_WORDS: Final = frozenset(
    ("lol", "lul", "lmao", "lmfao", "haha", "hahaha", "kek", "kekw", "xd", "lulw", "rofl")
)
_LAUGH_MORPHEMES: Final = ("LUL", "KEKW")
# 1-2 letter lexicon entries that are chat words; the others are texting abbreviations ("bl", "jw", "po").
_CHAT_SHORT: Final = frozenset(
    ("ez", "gg", "gj", "gz", "ok", "ty", "xd", "no", "ha", "np", "wp", "gl", "w", "l", "ff")
)
# Words chat uses as exclamations or crude nouns at least as often as in their lexicon sense.
_EXPLETIVES: Final = frozenset(
    ("god", "damn", "hell", "dick", "dicks", "cock", "pussy", "wtf", "omg", "omfg", "please", "pls")
)

_PUNCTUATION: Final = string.punctuation + "…‘’“”«»¡¿"
_SUB_SHAPE: Final = re.compile(r"^[a-z][a-z0-9]{1,14}([A-Z][A-Za-z0-9]*|[0-9]+)$")
_CAMEL: Final = re.compile(r"^(?=.*[a-z])(?=(?:.*[A-Z]){2})[A-Za-z0-9]+$")
_REPEATS: Final = re.compile(r"(.)\1+")
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
    simple: bool  # no rule but mockery can touch it: in a message of simple tokens the score is the plain sum
    emote: bool  # an emote (listed, a variant or a family member): the words before it do not modify it
    laugh: bool
    slang: bool  # "w" / "l": a win / loss only in upper case or a short line, and not spelled out


_VALENCE: Final = itemgetter(0)
_SIMPLE: Final = itemgetter(8)
_LAUGH: Final = itemgetter(10)
_SLANG: Final = itemgetter(11)
_SARCASM: Final = itemgetter(7)
_NORM: Final = itemgetter(6)


def _symbol(valence: float, sarcasm: bool = False, emote: bool = True, laugh: bool = False) -> _Tok:
    """An emote or emoji: fixed valence, no case, no role in the structural rules."""
    return _Tok(
        valence, valence != 0.0, 0.0, False, False, False, "", sarcasm, not sarcasm, emote, laugh, False
    )


_EMOTE_TOKS: Final = {
    name: _symbol(e.valence, e.sarcasm, laugh=name in _LAUGH_EMOTES) for name, e in EMOTES.items()
}
_UNKNOWN_EMOTE: Final = _symbol(0.0)
# Words that no rule knows differ only in case, which the caps differential counts.
_PLAIN_UNCASED: Final = _Tok(0.0, False, 0.0, False, False, False, "", False, True, False, False, False)
_PLAIN_CASED: Final = _PLAIN_UNCASED._replace(cased=True)
_PLAIN_SHOUTING: Final = _PLAIN_CASED._replace(shouting=True)
_EMOJI_TOKS: Final = {emoji: _symbol(valence, emote=False) for emoji, valence in EMOJI_VALENCE.items()}
# Case and elongation variants of lexicon emotes of 4+ characters: "biblethump", "KEKWW".
_CASELESS: Final = {name.lower(): name for name in EMOTES if len(name) >= 4}
_SQUEEZED: Final = {_REPEATS.sub(r"\1", name.lower()): name for name in EMOTES if len(name) >= 4}


def _is_emoji(char: str) -> bool:
    # Pictographs and dingbats are emoji even when no table knows them; they must not glue to words.
    return char in _EMOJI_TOKS or "\U0001f000" <= char <= "\U0001faff" or "\u2600" <= char <= "\u27bf"


def split_emoji(tokens: list[str]) -> list[str]:
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
    if len(set(word)) <= len(word) - 2 and _RUN3.search(word):  # a run of 3 needs 2 repeats
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


def _word_valence(norm: str, raw: str, elongated: bool) -> float:
    """A word's own valence, with chat's slang and expletive rules."""
    if norm in _EXPLETIVES:
        return 0.0
    valence = _WORDS.get(norm, 0.0)
    if len(norm) <= 2 and norm.isalpha() and valence:
        emoticon = len(norm) == 1 and raw[0] in _PUNCTUATION  # ":L"
        if emoticon or norm not in _CHAT_SHORT:
            return 0.0
    if elongated and valence:
        valence += ELONGATION_INCR if valence > 0 else -ELONGATION_INCR
    return valence


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
    valence = _word_valence(norm, raw, elongated)
    booster = _BOOSTERS.get(norm, 0.0)
    negation = norm in _NEGATIONS or "n't" in norm
    laugh = norm in _LAUGH_WORDS
    slang = norm in ("w", "l") and valence != 0.0
    # A shouting item needs the caps rule, which depends on the rest of the message; so does slang.
    simple = not (booster or negation or slang or norm in _TRIGGERS or (shouting and valence))
    return _Tok(
        valence, valence != 0.0, booster, negation, shouting, cased, norm, False, simple, False, laugh, slang
    )


def _is_emote_shaped(name: str) -> bool:
    """A listed name, a subscriber emote ("lionNice", "moon2SMUG") or CamelCase with 2+ capitals ("AlienPls")."""
    if name in _EMOTE_NAMES:
        return True
    match = _SUB_SHAPE.match(name)
    return bool(match and match[1] in _SUFFIXES) or bool(_CAMEL.match(name))


def _family_valence(name: str) -> float | None:
    """An unknown emote's valence from its trailing part ("seagPog" → Pog, "moon2WHINE" → whine)."""
    if name in _GLOBAL_NAMES or not _is_emote_shaped(name):
        return None
    if any(m in name.upper() for m in _LAUGH_MORPHEMES):
        return EMOTES["LUL"].valence
    parts = _CAMEL_BOUNDARY.split(name)
    for i in range(1, len(parts)):
        suffix = "".join(parts[i:])
        if suffix in EMOTES:
            return EMOTES[suffix].valence
        found = _MORPHEMES.get(suffix, _SUFFIX_VALENCE.get(suffix))
        if found is not None:
            return found
        lowered = suffix.lower()
        if len(lowered) >= 3 and lowered in VADER_LEXICON:
            return VADER_LEXICON[lowered]
    match = _SUB_SHAPE.match(name)
    return _SUFFIX_VALENCE.get(match[1]) if match else None


def _emote_like(stripped: str) -> _Tok | None:
    """A token the emote lexicon does not list by that spelling: a variant of a listed emote, or a family member."""
    lower = stripped.islower()
    if lower and stripped in _WORDS:  # "lul", "pog": chat words the lexicon rates
        return None
    low = stripped.lower()
    name = _CASELESS.get(low)
    if name is None and len(low) > 4 and len(set(low)) < len(low):  # a repeated letter: maybe elongated
        name = _SQUEEZED.get(_REPEATS.sub(r"\1", low))
    if name is not None:
        return _EMOTE_TOKS[name]
    if lower and stripped not in _EMOTE_NAMES:  # an emote shape needs a capital, or to be listed
        return None
    valence = _family_valence(stripped)
    if valence is None:
        return None
    laugh = any(m in stripped.upper() for m in _LAUGH_MORPHEMES)
    return _symbol(valence, laugh=laugh)


def _analyse(token: str) -> _Tok:
    symbol = _EMOTE_TOKS.get(token) or _EMOJI_TOKS.get(token)
    if symbol is not None:
        return symbol
    stripped = token.strip(_PUNCTUATION)
    if not stripped:  # punctuation only, or an emoticon such as ":)"
        return _word(token, token)
    # "KEKW!" is not rendered as an emote (so not counted as one), but its meaning is plain.
    found = _EMOTE_TOKS.get(stripped)
    if found is None and stripped.isalnum() and not stripped.isdigit():
        found = _emote_like(stripped)
    return found or _word(stripped, token)


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
    if tok.emote:  # a reaction to the whole line: no word before it modifies it
        return value
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


def _silence(tok: _Tok) -> _Tok:
    return tok._replace(valence=0.0, item=False)


def _read_slang(toks: list[_Tok], tokens: list[str]) -> list[_Tok]:
    """ "w"/"l" count as a win/loss in upper case or in a line of 1-2 tokens, and never spelled out ("W O W")."""
    out = list(toks)
    for i, tok in enumerate(toks):
        if not tok.slang:
            continue
        spelled = len(tokens[i]) == 1 and sum(len(t) == 1 for t in tokens[max(0, i - 2) : i + 3]) >= 3
        lower = not tokens[i].strip(_PUNCTUATION).isupper()
        if spelled or (lower and len(tokens) > 2):
            out[i] = _silence(tok)
    return out


def _mocking(toks: list[_Tok]) -> list[_Tok]:
    """Laughter in a line that also carries a negative item mocks: it turns negative ("you're trash LUL")."""
    if not any(t.valence < 0 and not t.laugh for t in toks):
        return toks
    return [_symbol(MOCKERY * abs(t.valence or LAUGH_VALENCE)) if t.laugh else t for t in toks]


def _compound(toks: list[_Tok], text: str, tokens: list[str]) -> float:
    if all(map(_SIMPLE, toks)):  # most chat lines: emotes, emoji and plain words only
        values = list(map(_VALENCE, toks))
        if min(values) >= 0.0 or not any(map(_LAUGH, toks)):  # no laughter next to a negative item
            return _normalised(sum(values), text, False)
    if any(map(_SLANG, toks)):
        toks = _read_slang(toks, tokens)
    if any(map(_LAUGH, toks)):
        toks = _mocking(toks)
    if not _PHRASE_TAILS.isdisjoint(map(_NORM, toks)):
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
    return _normalised(total, text, any(map(_SARCASM, toks)))


def score(text: str, emotes: Sequence[str] | None = None, tokens: list[str] | None = None) -> float:
    """VADER's compound score of one chat message in [-1, 1] (0.0 for empty or neutral text); not cached.

    ``emotes``: the emote names of the message in order of appearance (from the event); those tokens are read
    as emotes. Without it, well-known emotes are recognised from the text (they are in either case).
    ``tokens``: ``text.split()``, when the caller has it already.
    """
    if tokens is None:
        tokens = text.split()
    if not tokens:
        return 0.0
    if not text.isascii():
        tokens = split_emoji(tokens)
        if not tokens:  # only emoji modifiers
            return 0.0
    memo = _MEMO.get
    # Known emotes read the same whether given or recognised; only unknown given names need the slow path.
    unknown = set(emotes).difference(_EMOTE_TOKS) if emotes else None
    if unknown:
        toks = [_UNKNOWN_EMOTE if t in unknown else memo(t) or _remember(t) for t in tokens]
    else:
        toks = [memo(t) or _remember(t) for t in tokens]
    return _compound(toks, text, tokens)


def polarity(token: str) -> tuple[int, int, bool]:
    """Positive items, negative items, and whether there is a negation, in one whitespace token (its emoji
    split out): what the learned layer reads of the lexicon per token."""
    if token.isascii():
        tok = _MEMO.get(token) or _remember(token)
        return tok.valence > 0, tok.valence < 0, tok.negation
    toks = [_MEMO.get(piece) or _remember(piece) for piece in split_emoji([token])]
    positive = sum(t.valence > 0 for t in toks)
    negative = sum(t.valence < 0 for t in toks)
    return positive, negative, any(t.negation for t in toks)


def clear_memo() -> None:
    """Forget memoised token analyses (results do not change; only speed does)."""
    _MEMO.clear()
