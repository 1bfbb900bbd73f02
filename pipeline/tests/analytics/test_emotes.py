"""Emote catalogue and recognition: exact, case-sensitive, whole-token matches, in order, repeats kept."""

from __future__ import annotations

import pytest

from telemetra.analytics.emotes import (
    EMOTE_VALENCE,
    EMOTES,
    KNOWN_EMOTES,
    SARCASM_EMOTES,
    SOURCES,
    recognise_emotes,
)
from telemetra.analytics.lexicon import VADER_LEXICON

POSITIVE = [
    "PogChamp", "Pog", "PogU", "LUL", "LULW", "KEKW", "OMEGALUL", "catJAM", "EZ", "Kreygasm", "SeemsGood",
    "peepoHappy", "<3", "HeyGuys", "PartyParrot",
]  # fmt: skip
NEGATIVE = [
    "Sadge", "PepeHands", "ResidentSleeper", "NotLikeThis", "BibleThump", "monkaS", "FailFish", "WutFace",
    "DansGame", "PJSalt",
]  # fmt: skip
NEUTRAL = ["Kappa", "4Head", "Jebaited", "monkaHmm", "TriHard", "CoolCat"]


# -- the catalogue ---------------------------------------------------------------------------------------
def test_catalogue_has_the_required_emotes_and_fifty_more() -> None:
    required = {*POSITIVE, *NEGATIVE, *NEUTRAL}
    assert isinstance(KNOWN_EMOTES, frozenset)
    assert required <= KNOWN_EMOTES
    assert len(KNOWN_EMOTES - required) >= 50


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_emotes_have_positive_valence(name: str) -> None:
    assert EMOTE_VALENCE[name] > 0


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_emotes_have_negative_valence(name: str) -> None:
    assert EMOTE_VALENCE[name] < 0


@pytest.mark.parametrize("name", NEUTRAL)
def test_neutral_emotes_have_no_valence(name: str) -> None:
    assert EMOTE_VALENCE[name] == 0


def test_kappa_marks_sarcasm() -> None:
    assert "Kappa" in SARCASM_EMOTES
    assert "LUL" not in SARCASM_EMOTES


@pytest.mark.parametrize("emote", EMOTES.values(), ids=lambda e: e.name)
def test_every_row_is_well_formed_and_its_valence_traceable(emote: object) -> None:
    from telemetra.analytics.emotes import Emote

    assert isinstance(emote, Emote)
    assert -4.0 <= emote.valence <= 4.0
    assert emote.source in SOURCES
    assert emote.meaning
    assert emote.name == emote.name.strip()
    assert " " not in emote.name
    kind, _, word = emote.basis.partition(":")
    assert kind in {"vader", "hand", "neutral"}
    if kind == "vader":  # copied from a VADER word with the same meaning: must still match the lexicon
        assert VADER_LEXICON[word] == emote.valence
    if kind == "neutral":
        assert emote.valence == 0.0


# -- recognition -----------------------------------------------------------------------------------------
def test_recognises_in_order_of_appearance_with_repeats() -> None:
    assert recognise_emotes("KEKW that was great PogChamp KEKW KEKW") == ["KEKW", "PogChamp", "KEKW", "KEKW"]


def test_emote_only_lines() -> None:
    assert recognise_emotes("LUL LUL LUL") == ["LUL", "LUL", "LUL"]
    assert recognise_emotes("Sadge") == ["Sadge"]


def test_matching_is_case_sensitive() -> None:
    # "kekw", "Kekw", "lul", "KAPPA" are words people type, not emotes a chat client renders.
    assert recognise_emotes("kekw Kekw lul KAPPA pogchamp") == []
    assert recognise_emotes("LUL lul") == ["LUL"]


def test_attached_punctuation_is_not_an_emote() -> None:
    # Chat clients render an emote only for an exact whitespace-separated token; "KEKW!" stays text.
    assert recognise_emotes("KEKW! (LUL) Pog, Sadge.") == []
    assert recognise_emotes("KEKW !") == ["KEKW"]


def test_no_substring_matches() -> None:
    assert recognise_emotes("PogChampion KEKWait xKappa") == []


def test_emotes_made_of_punctuation() -> None:
    assert recognise_emotes("love you <3 <3") == ["<3", "<3"]
    assert recognise_emotes("D: what") == ["D:"]


def test_any_whitespace_separates_tokens() -> None:
    assert recognise_emotes("  Kappa\tLUL\nPog  ") == ["Kappa", "LUL", "Pog"]


def test_text_without_emotes() -> None:
    assert recognise_emotes("") == []
    assert recognise_emotes("   ") == []
    assert recognise_emotes("what game is this") == []
