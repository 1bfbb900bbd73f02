"""Well-known Twitch, BetterTTV, FrankerFaceZ and 7TV emotes, and recognising them in chat text.

The catalogue lives in ``data/emote_lexicon.tsv`` (name, valence on VADER's -4..4 scale, source, how the
valence was assigned, role, meaning) and is loaded once at import.

Recognition follows the rule chat clients use to render emotes: an emote is a whole whitespace-separated token
that equals the emote's name exactly, case included. So "KEKW" is an emote, while "kekw" (a word) and "KEKW!"
(punctuation attached; no client renders it as an emote) are not, and are not counted in emote statistics.
The sentiment scorer is more lenient with "KEKW!" because its meaning is still clear (see ``sentiment``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal, cast

Source = Literal["twitch-global", "bttv", "ffz", "7tv"]
SOURCES: Final[frozenset[str]] = frozenset({"twitch-global", "bttv", "ffz", "7tv"})
MAX_VALENCE: Final = 4.0  # VADER's scale runs from -4 to +4


@dataclass(frozen=True, slots=True)
class Emote:
    name: str
    valence: float  # VADER scale, -4 .. 4
    source: Source
    basis: str  # "vader:WORD", "hand" or "neutral" (see the data file's header)
    sarcasm: bool  # the emote marks the message as probably sarcastic (Kappa)
    meaning: str


def _parse_row(line: str) -> Emote:
    name, valence, source, basis, role, meaning = line.split("\t")
    value = float(valence)
    if not -MAX_VALENCE <= value <= MAX_VALENCE:
        raise ValueError(f"emote {name!r}: valence {value} outside [-4, 4]")
    if source not in SOURCES:
        raise ValueError(f"emote {name!r}: unknown source {source!r}")
    if role not in ("-", "sarcasm"):
        raise ValueError(f"emote {name!r}: unknown role {role!r}")
    return Emote(name, value, cast(Source, source), basis, role == "sarcasm", meaning)


def _load() -> dict[str, Emote]:
    text = resources.files("telemetra.analytics").joinpath("data/emote_lexicon.tsv").read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    emotes: dict[str, Emote] = {}
    for line in lines[1:]:  # lines[0] is the column header
        emote = _parse_row(line)
        if emote.name in emotes:
            raise ValueError(f"emote {emote.name!r} listed twice")
        emotes[emote.name] = emote
    return emotes


EMOTES: Final = MappingProxyType(_load())
KNOWN_EMOTES: Final[frozenset[str]] = frozenset(EMOTES)
EMOTE_VALENCE: Final = MappingProxyType({name: e.valence for name, e in EMOTES.items()})
SARCASM_EMOTES: Final[frozenset[str]] = frozenset(name for name, e in EMOTES.items() if e.sarcasm)


def recognise_emotes(text: str) -> list[str]:
    """Known emote names in ``text`` in order of appearance, repeats kept (exact, case-sensitive tokens)."""
    known = KNOWN_EMOTES
    return [token for token in text.split() if token in known]
