"""Derive candidate emote valences from permissively licensed material, by two documented, repeatable methods.

1. Distant supervision (``derived_emotes.tsv``). Over the *lexicon* split of ``corpus.tsv`` only (never the
   eval lines nor their near-copies), every emote token in a line is credited with the sentiment of the line's
   ordinary words: the sum of their VADER 3.3.2 lexicon valences (vaderSentiment, MIT), clamped to [-4, 4].
   Lines whose words carry no VADER valence give no evidence. An emote's valence is the smoothed mean of that
   evidence, ``sum / (n + K)`` (K pseudo-lines of 0: few or mixed lines stay near 0), kept when it has at
   least MIN_EVIDENCE evidence lines. Lines are distinct (copies and near-copies are already removed), so a
   spammed copypasta counts once.
   An emote token is a whole token that is a name in ``emote_names.tsv`` (Twitch global, BTTV, 7TV lists), a
   name in Telemetra's ``emote_lexicon.tsv``, or has the shape of a subscriber emote (a lower-case channel
   prefix and a suffix from ``sub_emote_suffixes.tsv``: "lionNice", "moon2SMUG"). Two filters keep the
   evidence about reactions: lines of more than MAX_TOKENS tokens (copypastas) give none, and list names that
   chat also types as ordinary lower-case words (WORDLIKE+ times: 7TV's "THIS", "MODS", "SOLO") are skipped
   unless Telemetra's lexicon lists them.

2. Emote families (``derived_suffixes.tsv``). Subscriber emotes are a channel prefix plus a suffix that says
   what they mean ("albisSad", "cirLaugh", "seagPog"); 2,903 suffixes recur in 5+ channels. A suffix gets a
   valence when it is itself a name in ``emote_lexicon.tsv`` (source ``emote:NAME``: "LUL", "Pog") or, case
   folded, a word of Telemetra's ``chat_lexicon.tsv`` (``chat:WORD``: "Hype") or of the VADER lexicon
   (``vader:WORD``: "Sad" -2.1, "Love" 3.2). No valence is set by hand here.

Method 2 feeds the product: ``main`` also writes the scorer's two data files,
``pipeline/src/telemetra/analytics/data/emote_families.tsv`` (every suffix, with its valence where method 2
gives one) and ``emote_names.tsv`` (the listed names that are not ordinary words), each with a header stating
its sources and licence. Method 1 did not improve the scorer (``bench/results/sentiment_quality.md``) and stays
a candidate.

    python bench/sentiment_eval/derive_lexicon.py
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
HAND_LEXICON = REPO / "pipeline/src/telemetra/analytics/data/emote_lexicon.tsv"
CHAT_LEXICON = REPO / "pipeline/src/telemetra/analytics/data/chat_lexicon.tsv"
PRODUCT_FAMILIES = REPO / "pipeline/src/telemetra/analytics/data/emote_families.tsv"
PRODUCT_NAMES = REPO / "pipeline/src/telemetra/analytics/data/emote_names.tsv"

K = 2.0  # smoothing: pseudo-lines of valence 0
MIN_EVIDENCE = 3  # evidence lines an emote needs to be listed
MAX_TOKENS = 12  # longer lines (copypastas) give no evidence: their words are a script, not a reaction
WORDLIKE = 3  # a name typed in lower case as an ordinary word this often is ambiguous ("THIS", "MODS")
MAX_VALENCE = 4.0
SUB_SHAPE = re.compile(r"^[a-z][a-z0-9]{1,14}(?P<suffix>[A-Z][A-Za-z0-9]*|[0-9]+)$")
_PUNCT = string.punctuation + "…‘’“”"


def _rows(path: Path, comments: bool = True) -> Iterator[list[str]]:
    """Rows of a TSV file without its column header (and, if ``comments``, without '#' comment lines)."""
    lines = [
        line
        for line in path.read_text("utf-8").splitlines()
        if line.strip() and not (comments and line[0] == "#")
    ]
    for line in lines[1:]:
        yield line.split("\t")


def vader_lexicon() -> dict[str, float]:
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text("utf-8")
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.strip():
            word, value = line.strip().split("\t")[:2]
            out[word] = float(value)
    return out


def hand_lexicon() -> dict[str, float]:
    return {row[0]: float(row[1]) for row in _rows(HAND_LEXICON)}


def chat_lexicon() -> dict[str, float]:
    return {row[0]: float(row[1]) for row in _rows(CHAT_LEXICON) if " " not in row[0]}


def known_suffixes() -> dict[str, int]:
    return {row[0]: int(row[1]) for row in _rows(HERE / "sub_emote_suffixes.tsv")}


def emote_names() -> dict[str, str]:
    return {row[0]: row[1] for row in _rows(HERE / "emote_names.tsv", comments=False)}


class EmoteShape:
    """Whether a token is an emote (known name or subscriber-emote shape)."""

    def __init__(self, names: set[str], suffixes: set[str]) -> None:
        self.names = names
        self.suffixes = suffixes

    def __call__(self, token: str) -> bool:
        if token in self.names:
            return True
        match = SUB_SHAPE.match(token)
        return bool(match and match["suffix"] in self.suffixes)


def lexicon_lines() -> list[str]:
    lines = [row[0] for row in _rows(HERE / "corpus.tsv", comments=False) if row[2] == "lexicon"]
    if not lines:
        raise SystemExit("corpus.tsv has no lexicon split; run prepare_corpus.py first")
    return lines


def distant_supervision(
    lines: list[str], is_emote: EmoteShape, vader: dict[str, float]
) -> list[tuple[str, float, int, int]]:
    """(emote, valence, lines containing it, evidence lines) for emotes with enough evidence."""
    evidence: dict[str, list[float]] = {}
    seen: dict[str, int] = {}
    for line in lines:
        tokens = line.split()
        if len(tokens) > MAX_TOKENS:
            continue
        emotes = {t for t in tokens if is_emote(t)}
        if not emotes:
            continue
        words = [t.strip(_PUNCT).lower() for t in tokens if t not in emotes]
        signal = sum(vader.get(w, 0.0) for w in words if w)
        for emote in emotes:
            seen[emote] = seen.get(emote, 0) + 1
            if signal:
                evidence.setdefault(emote, []).append(max(-MAX_VALENCE, min(MAX_VALENCE, signal)))
    out = []
    for emote, values in evidence.items():
        if len(values) >= MIN_EVIDENCE:
            out.append((emote, sum(values) / (len(values) + K), seen[emote], len(values)))
    return sorted(out, key=lambda r: (-r[3], r[0]))


def suffix_valences(
    suffixes: dict[str, int], hand: dict[str, float], vader: dict[str, float], chat: dict[str, float]
) -> list[tuple[str, float, int, str]]:
    out = []
    for suffix, channels in suffixes.items():
        if suffix in hand:
            out.append((suffix, hand[suffix], channels, f"emote:{suffix}"))
        elif len(suffix) >= 3 and suffix.lower() in chat:
            out.append((suffix, chat[suffix.lower()], channels, f"chat:{suffix.lower()}"))
        elif len(suffix) >= 3 and suffix.lower() in vader:
            out.append((suffix, vader[suffix.lower()], channels, f"vader:{suffix.lower()}"))
    return sorted(out, key=lambda r: (-r[2], r[0]))


SOURCES_NOTE = (
    "# Sources (MIT licence; notices and pinned commits in bench/sentiment_eval/LICENSES.md and README.md):\n"
    "#   dekuNukem/Twitch_Chatlogs SGDQ2017/{global_emotes,bttv_emotes,sub_emotes}.txt (names, suffix counts);\n"
    "#   Data-Science-for-Linguists/NLSS_Project PublicData/globalemotes.json (Twitch global names, 2016);\n"
    "#   Chatterino/chatterino2 benchmarks/resources/seventvemotes-nymn.json (one channel's 7TV set, 2024).\n"
    "# Valences: VADER 3.3.2 lexicon (vaderSentiment, MIT) and Telemetra's own emote_lexicon.tsv and\n"
    "# chat_lexicon.tsv (Apache-2.0, this project). This file: Apache-2.0, with the attribution above.\n"
)


def write_product_files(
    suffixes: dict[str, int], families: list[tuple[str, float, int, str]], names: dict[str, str]
) -> None:
    """The scorer's data files (``telemetra.analytics.lexicon``): suffix families and known emote names."""
    valued = {suffix: (valence, source) for suffix, valence, _, source in families}
    with PRODUCT_FAMILIES.open("w", encoding="utf-8") as fh:
        fh.write(
            "# Emote families: suffixes of Twitch subscriber emotes (a channel prefix + a suffix that says what the\n"
            "# emote means: albisSad, cirLaugh, seagPog), recurring in 5+ channels of the 2017 list. Generated by\n"
            "# bench/sentiment_eval/derive_lexicon.py; do not edit by hand.\n"
            "#\n"
            "# Columns: suffix; channels = subscriber emotes ending in it; valence on VADER's -4..4 scale, or - when\n"
            "# the suffix has no known meaning (it still marks a token as emote-shaped); basis = where the valence\n"
            "# comes from: emote:NAME (the suffix is an emote of emote_lexicon.tsv), chat:WORD / vader:WORD (case\n"
            "# folded, a word of chat_lexicon.tsv / of the VADER lexicon). No valence is set by hand.\n"
            "#\n" + SOURCES_NOTE
        )
        fh.write("suffix\tchannels\tvalence\tbasis\n")
        for suffix, channels in suffixes.items():
            valence, source = valued.get(suffix, (None, "-"))
            fh.write(f"{suffix}\t{channels}\t{'-' if valence is None else f'{valence:.1f}'}\t{source}\n")
    with PRODUCT_NAMES.open("w", encoding="utf-8") as fh:
        fh.write(
            "# Emote names beyond emote_lexicon.tsv: Twitch global (2016, 2017), BetterTTV (2017) and one channel's\n"
            "# 7TV set (2024), without the names chat also types as ordinary lower-case words (3+ times in the\n"
            "# lexicon split of the corpus: THIS, MODS). Generated by bench/sentiment_eval/derive_lexicon.py.\n"
            "# A listed name is emote-shaped (its suffix family may value it); a Twitch/BTTV global name is a whole\n"
            "# name, never valued by its suffix (RaccAttack is no attack).\n"
            "#\n" + SOURCES_NOTE
        )
        fh.write("name\tlist\n")
        for name, origin in names.items():
            fh.write(f"{name}\t{origin}\n")


def main() -> None:
    vader = vader_lexicon()
    hand = hand_lexicon()
    names = emote_names()
    suffixes = known_suffixes()
    lines = lexicon_lines()
    lower_words: dict[str, int] = {}
    for line in lines:
        for token in line.split():
            if token.islower():
                lower_words[token] = lower_words.get(token, 0) + 1
    wordlike = {n for n in names if n not in hand and lower_words.get(n.lower(), 0) >= WORDLIKE}
    is_emote = EmoteShape((set(names) - wordlike) | set(hand), set(suffixes))

    derived = distant_supervision(lines, is_emote, vader)
    with (HERE / "derived_emotes.tsv").open("w", encoding="utf-8") as fh:
        fh.write(
            "# Emote valences by distant supervision (derive_lexicon.py): smoothed mean VADER valence of the words\n"
            f"# in the same line, over the lexicon split of corpus.tsv ({len(lines)} distinct lines; MIT sources, see\n"
            f"# README.md). K={K}, at least {MIN_EVIDENCE} evidence lines. count = lines containing the emote,\n"
            "# evidence = those with VADER-valenced words; hand = Telemetra's emote_lexicon.tsv value (if any).\n"
        )
        fh.write("name\tvalence\tcount\tsource\tevidence\tlist\thand\n")
        for emote, valence, count, n in derived:
            origin = names.get(emote, "hand-lexicon" if emote in hand else "sub-emote-shape")
            hand_value = f"{hand[emote]:.1f}" if emote in hand else "-"
            fh.write(f"{emote}\t{valence:.2f}\t{count}\tdistant:vader-words\t{n}\t{origin}\t{hand_value}\n")

    families = suffix_valences(suffixes, hand, vader, chat_lexicon())
    with (HERE / "derived_suffixes.tsv").open("w", encoding="utf-8") as fh:
        fh.write(
            "# Subscriber-emote suffix valences (derive_lexicon.py): a suffix that is an emote of\n"
            "# emote_lexicon.tsv (emote:NAME) or, case-folded, a chat_lexicon.tsv word (chat:WORD) or a VADER 3.3.2\n"
            "# word (vader:WORD). channels = subscriber emotes in the 2017 list that end in it.\n"
        )
        fh.write("suffix\tvalence\tchannels\tsource\n")
        for suffix, valence, channels, source in families:
            fh.write(f"{suffix}\t{valence:.1f}\t{channels}\t{source}\n")
    write_product_files(suffixes, families, {n: o for n, o in names.items() if n not in wordlike | set(hand)})
    print(f"{len(derived)} emotes by distant supervision, {len(families)} suffix families")
    both = [(name, value, hand[name]) for name, value, _, _ in derived if name in hand]
    polar = [(name, value, h) for name, value, h in both if h != 0.0]
    agree = [name for name, value, h in polar if value * h > 0]
    print(
        f"{len(both)} derived emotes are also hand-set; sign agrees for {len(agree)} of the {len(polar)} polar ones"
    )
    for name, value, h in both:
        print(f"  {name:16} derived {value:+.2f}  hand {h:+.1f}")


if __name__ == "__main__":
    main()
