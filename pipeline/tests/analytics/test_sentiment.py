"""Chat sentiment: the lexicon's reading corrected by the learned layer; bounded, deterministic, and the score's
±0.05 buckets are the model's class."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetra.analytics import sentiment, sentiment_model
from telemetra.analytics.emotes import KNOWN_EMOTES
from telemetra.analytics.sentiment import MODEL, classify, clear_cache, margin_to_score, score, score_uncached

POS, NEU, NEG = "positive", "neutral", "negative"

# Clear cases any chat reader agrees on (the quality on real labelled chat is measured by the benchmark).
LABELLED = [
    ("PogChamp", POS),
    ("KEKW KEKW KEKW", POS),
    ("that was awesome LUL", POS),
    ("I love this stream <3", POS),
    ("gg wp", POS),
    ("W", POS),
    ("Sadge", NEG),
    ("this is boring ResidentSleeper", NEG),
    ("lag again NotLikeThis", NEG),
    ("you are trash LUL", NEG),  # mockery
    ("rip", NEG),
    ("L", NEG),
    ("what game is this", NEU),
    ("is this the new map?", NEU),
    ("!uptime", NEU),
    ("Kappa", NEU),
]

CHAT = [
    *sorted(KNOWN_EMOTES)[:40], "seagPog", "albisSad", "LULLL", "kappa", "W", "w", "L", "gg", "not", "no",
    "but", "very", "good", "GOOD", "bad", "awesome!", "gooood", "lol", "haha", "trash", "the", "game", "?",
    "!", "😂", "🔥", "😭", "nice🔥", "@user", "123", "isn't", "please", "god",
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), LABELLED)
def test_clear_cases(text: str, expected: str) -> None:
    assert classify(score(text)) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.text(), st.none() | st.lists(st.sampled_from(sorted(KNOWN_EMOTES)) | st.text(min_size=1, max_size=8))
)
def test_always_within_bounds_and_deterministic(text: str, emotes: list[str] | None) -> None:
    value = score(text, emotes)
    assert -1.0 <= value <= 1.0
    assert value == score(text, emotes) == score_uncached(text, emotes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(CHAT), min_size=1, max_size=14))
def test_the_fast_logits_equal_the_reference_feature_sum(tokens: list[str]) -> None:
    text = " ".join(tokens)
    ids, compound = sentiment_model.features(text)
    get = MODEL.weights.get
    pos = sum(get(i, (0.0, 0.0))[0] for i in ids) + MODEL.compound_weight[0] * compound
    neg = sum(get(i, (0.0, 0.0))[1] for i in ids) + MODEL.compound_weight[1] * compound
    assert MODEL.logits(text) == (pytest.approx(pos), pytest.approx(neg))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(CHAT), min_size=1, max_size=14))
def test_the_class_of_the_score_is_the_models_class(tokens: list[str]) -> None:
    text = " ".join(tokens)
    p_pos, _, p_neg = sentiment_model.softmax(*MODEL.logits(text))
    margin = p_pos - p_neg
    expected = POS if margin >= MODEL.threshold else NEG if margin <= -MODEL.threshold else NEU
    if abs(abs(margin) - MODEL.threshold) > 1e-9:  # exactly on the cut-off, rounding decides
        assert classify(score_uncached(text)) == expected


def test_margin_maps_monotonically_with_the_threshold_on_the_cut_offs() -> None:
    t = MODEL.threshold
    assert margin_to_score(t, t) == pytest.approx(sentiment.POSITIVE_THRESHOLD)
    assert margin_to_score(-t, t) == pytest.approx(sentiment.NEGATIVE_THRESHOLD)
    assert margin_to_score(1.0, t) == 1.0 and margin_to_score(-1.0, t) == -1.0
    assert margin_to_score(0.0, t) == 0.0
    margins = [i / 100 for i in range(-100, 101)]
    values = [margin_to_score(m, t) for m in margins]
    assert values == sorted(values)


def test_clearing_caches_does_not_change_results() -> None:
    lines = ["sooo goood", "KEKW KEKW", "not good", "nice🔥", "seagPog"]
    before = [score(line) for line in lines]
    clear_cache()
    assert [score(line) for line in lines] == before


def test_a_broken_weights_file_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        sentiment_model.parse("# no threshold\nid\tpositive\tnegative\n1\t0.5\t0.1\n")


DATA_FILES = [
    "chat_lexicon.tsv",
    "emoji_valence.tsv",
    "emote_lexicon.tsv",
    "emote_names.tsv",
    "emote_families.tsv",
    "sentiment_model.tsv",
]


@pytest.mark.parametrize("name", DATA_FILES)
def test_every_lexicon_file_states_its_sources_and_licence(name: str) -> None:
    text = resources.files("telemetra.analytics").joinpath("data", name).read_text("utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#")).lower()
    assert "source" in header and "licence" in header and ("mit" in header or "apache" in header)
