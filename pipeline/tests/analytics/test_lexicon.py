"""The lexicon layer of chat sentiment: VADER's rules with emotes, emoji, elongation and chat slang, and chat's
own rules (emote variants and families, emote scope, mockery, slang contexts, expletives); always in [-1, 1]."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetra.analytics import lexicon
from telemetra.analytics.emotes import KNOWN_EMOTES
from telemetra.analytics.lexicon import VADER_LEXICON, clear_memo, score
from telemetra.analytics.sentiment import NEGATIVE_THRESHOLD, POSITIVE_THRESHOLD, classify

POS, NEU, NEG = "positive", "neutral", "negative"

# (chat line, emotes from the event or None, expected class)
LABELLED: list[tuple[str, list[str] | None, str]] = [
    # emotes alone
    ("PogChamp", None, POS),
    ("KEKW KEKW KEKW", None, POS),
    ("LUL", ["LUL"], POS),
    ("catJAM catJAM", None, POS),
    ("<3", None, POS),
    ("Sadge", None, NEG),
    ("ResidentSleeper", ["ResidentSleeper"], NEG),
    ("NotLikeThis NotLikeThis", None, NEG),
    ("BibleThump", None, NEG),
    ("Kappa", None, NEU),
    ("monkaHmm", None, NEU),
    ("4Head", ["4Head"], NEU),
    # emotes mixed with words
    ("this is boring ResidentSleeper", None, NEG),
    ("that was awesome LUL", None, POS),
    ("what a comeback PogChamp", ["PogChamp"], POS),
    ("lag again NotLikeThis", None, NEG),
    ("I'm so tired of this Sadge", None, NEG),
    ("what game is this Kappa", None, NEU),
    ("hi chat HeyGuys", ["HeyGuys"], POS),
    ("great stream Kappa", None, POS),  # sarcasm damps, does not flip
    # plain words, chat slang
    ("awesome!", None, POS),
    ("that was sick", None, POS),
    ("insane play", None, POS),
    ("W streamer", None, POS),
    ("L", None, NEG),
    ("gg!", None, POS),
    ("gg wp", None, POS),
    ("clutch", None, POS),
    ("rip", None, NEG),
    ("unlucky", None, NEG),
    ("stream is lagging", None, NEG),
    ("this sucks", None, NEG),
    ("what game is this", None, NEU),
    ("first time here", None, NEU),
    ("is this ranked?", None, NEU),
    ("yeah right", None, NEG),
    # negation
    ("not good", None, NEG),
    ("isn't bad", None, POS),
    ("this is not fun at all", None, NEG),
    ("never seen anything so good", None, POS),
    ("not really that good", None, NEG),
    ("no way that's terrible", None, NEG),
    # punctuation, caps
    ("AWESOME!!!", None, POS),
    ("this is SO BAD", None, NEG),
    ("why??", None, NEU),
    # elongation
    ("sooo goood", None, POS),
    ("nooooo", None, NEG),
    ("niiiice", None, POS),
    ("LETS GOOOOO", None, POS),
    ("lmaooooo", None, POS),
    ("hahahahaha", None, POS),
    ("booooring", None, NEG),
    # intensifiers, "but"
    ("very good", None, POS),
    ("kinda bad", None, NEG),
    ("the game is good but the stream is awful", None, NEG),
    ("the stream is awful but the game is great", None, POS),
    # emoji
    ("😂😂😂", None, POS),
    ("❤️", None, POS),
    ("nice🔥🔥", None, POS),
    ("👍", None, POS),
    ("😭", None, NEG),
    ("😡 this boss", None, NEG),
    ("👎👎", None, NEG),
    ("🤔", None, NEU),
    # empty and whitespace
    ("", None, NEU),
    ("   ", None, NEU),
]


def test_there_are_at_least_fifty_labelled_lines() -> None:
    assert len(LABELLED) >= 50


@pytest.mark.parametrize(("text", "emotes", "expected"), LABELLED)
def test_labelled_chat_lines(text: str, emotes: list[str] | None, expected: str) -> None:
    value = score(text, emotes)
    assert classify(value) == expected, value


# -- the brief's anchors ---------------------------------------------------------------------------------
def test_empty_text_is_zero() -> None:
    assert score("") == 0.0
    assert score("", ["Kappa"]) == 0.0


def test_punctuation_emphasis() -> None:
    assert score("awesome!") > 0  # the system this replaces scored it neutral
    assert score("awesome!!!") > score("awesome!") > score("awesome") > 0
    assert score("awesome!!!!!!!!") == score("awesome!!!!")  # capped at four, like VADER
    assert score("terrible!!!") < score("terrible") < 0


def test_negation() -> None:
    assert score("not good") < 0
    assert 0 < score("isn't bad") < -score("bad")
    assert score("isnt bad") == score("isn't bad") == score("isn’t bad")
    # Three tokens back is still in the window; four is not.
    assert score("not a very good") < 0
    assert score("not one of the good") > 0


def test_elongation() -> None:
    assert score("sooo goood") > 0
    assert score("sooo goood") >= score("so good")
    assert score("goooood") > score("good")  # lengthening is emphasis
    assert score("baaaad") < score("bad") < 0


def test_emotes_anchors() -> None:
    assert score("PogChamp") > 0
    assert score("Sadge") < 0
    assert score("this is boring ResidentSleeper") < score("this is boring") < 0


def test_caps_emphasis_needs_mixed_case() -> None:
    assert score("this is AWESOME") > score("this is awesome")
    assert score("THIS IS AWESOME") == score("this is awesome")  # all caps is not emphasis, just style


def test_emotes_do_not_count_towards_the_caps_differential() -> None:
    # catJAM is mixed case; were it a word, "GREAT" would count as shouting in a mixed-case message.
    assert score("GREAT catJAM") == pytest.approx(score("great catJAM"))
    assert score("GREAT xqcL", ["xqcL"]) == score("GREAT")


def test_intensifiers_and_dampeners() -> None:
    assert score("very good") > score("good")
    assert score("really really good") > score("really good") > score("good")
    assert 0 < score("kinda good") < score("good")
    assert score("VERY good") > score("very good")  # a shouted booster boosts more
    assert score("very bad") < score("bad")


def test_but_shifts_weight_to_what_follows() -> None:
    assert score("good but bad") < 0 < score("bad but good")


def test_never_so_and_at_least() -> None:
    assert score("never been so good") > 0
    assert score("at least it's good") > 0
    assert score("the least good") < 0


def test_emoji() -> None:
    assert score("😂") > 0
    assert score("❤️") == score("❤") > 0  # the variation selector is ignored
    assert score("👍🏽") == score("👍") > 0  # so is the skin tone
    assert score("🔥") > 0  # "this is fire", not a house fire
    assert score("😭") < 0
    assert score("😡") < 0
    assert score("nice🔥🔥") > score("nice 🔥") > score("nice")
    assert score("💋") > 0  # not in our table: VADER's own method ("kiss mark")


def test_kappa_is_sarcasm() -> None:
    assert score("Kappa") == 0.0
    assert 0 < score("great stream Kappa") < score("great stream")
    assert score("this is terrible Kappa") > score("this is terrible")
    assert score("great stream kappa") == score("great stream Kappa")  # typed in lower case, still Kappa


def test_case_and_elongation_variants_of_emotes_read_as_the_emote() -> None:
    assert score("residentsleeper") == score("Residentsleeper") == score("ResidentSleeper") < 0
    assert score("KEKWWW") == score("KEKW") > 0
    assert score("biblethump") == score("BibleThump") < 0
    # A lower-case chat word the lexicon rates stays that word ("lul", "pog"), and short names need the case.
    assert score("lul") == score("lol") > 0
    assert score("ez") == score("EZ") > 0


def test_unknown_emotes_take_the_valence_of_their_family() -> None:
    assert score("seagPog") == score("Pog") > 0  # a subscriber emote ending in a lexicon emote
    assert score("albisSad") < 0 and score("cirLove") > 0  # family suffixes with a VADER word
    assert score("AlienPls") > 0  # CamelCase sharing "Pls" with the lexicon's dancing emotes
    assert score("MEGALUL") == score("LUL")  # a laughing name laughs
    assert score("RaccAttack") == 0.0  # a global emote is a whole name, not an attack
    assert score("iPhone") == score("McDonalds") == 0.0  # not emote-shaped, or no family meaning
    assert score("seagPog", ["seagPog"]) == 0.0  # a given emote the lexicon does not know stays unknown


def test_words_before_an_emote_do_not_modify_it() -> None:
    # "no"/"not" negate the words they modify, not the writer's reaction that the emote states.
    assert score("not FeelsBadMan") == score("FeelsBadMan") < 0
    assert score("not PogChamp") == score("PogChamp") > 0
    assert score("very PogChamp") == score("PogChamp")
    assert score("not good") < 0  # words are still negated


def test_laughter_next_to_a_negative_item_mocks() -> None:
    assert score("you are trash LUL") < score("you are trash") < 0
    assert score("he failed again lol") < 0
    assert score("that was funny LUL") > 0  # no negative item: laughter is laughter
    assert score("LUL") > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jw", 0.0),  # texting abbreviations are not chat slang
        ("bl", 0.0),
        ("W", None),  # alone: a win
        ("w", None),
        ("W streamer", None),
        ("they got a w in", 0.0),  # lower case in a longer line: a letter
        ("W O W", 0.0),  # spelled out
        ("B L O O B I E", 0.0),
        ("oh :W", 0.0),  # an emoticon's letter (":L" is VADER's own emoticon and keeps its valence)
    ],
)
def test_short_slang_only_where_chat_means_it(text: str, expected: float | None) -> None:
    value = score(text)
    assert value == expected if expected is not None else value > 0


@pytest.mark.parametrize("text", ["oh god", "what the hell", "please", "wtf", "omg"])
def test_expletives_carry_nothing_of_their_own(text: str) -> None:
    assert score(text) == 0.0


def test_emote_with_attached_punctuation_still_scores() -> None:
    assert score("KEKW!") > score("KEKW") > 0


def test_given_emotes_are_emotes() -> None:
    assert score("LUL", ["LUL"]) == score("LUL")
    assert score("KEKW", []) == score("KEKW")  # well-known emotes are recognised anyway
    assert score("love") > 0
    assert score("love", ["love"]) == 0.0  # an emote named "love" is not the word
    assert score("xqcL xqcL", ["xqcL", "xqcL"]) == 0.0  # unknown emotes are neutral


def test_emotes_repeat_and_saturate() -> None:
    assert 0 < score("LUL") < score("LUL LUL") < score("LUL LUL LUL LUL") < 1
    assert score(" ".join(["KEKW"] * 500)) <= 1.0


def test_idioms() -> None:
    assert score("let's gooo") > 0
    assert score("yeah right") < 0 < score("yeah")


# -- classification --------------------------------------------------------------------------------------
def test_classify_uses_vaders_standard_thresholds() -> None:
    assert (POSITIVE_THRESHOLD, NEGATIVE_THRESHOLD) == (0.05, -0.05)
    assert classify(0.05) == "positive"
    assert classify(0.0499) == "neutral"
    assert classify(0.0) == "neutral"
    assert classify(-0.0499) == "neutral"
    assert classify(-0.05) == "negative"
    assert classify(1.0) == "positive"
    assert classify(-1.0) == "negative"


# -- VADER parity on plain English ---------------------------------------------------------------------
PLAIN_ENGLISH = [
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Make sure you :) or :D today!",
    "Not bad at all",
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "I hate this boss",
    "no good",
]


@pytest.mark.parametrize("text", PLAIN_ENGLISH)
def test_matches_the_reference_implementation_on_plain_english(text: str) -> None:
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    expected = vader.SentimentIntensityAnalyzer().polarity_scores(text)["compound"]
    assert score(text) == pytest.approx(expected, abs=1e-4)  # the reference rounds to 4 decimals


# -- properties ------------------------------------------------------------------------------------------
emote_lists = st.none() | st.lists(st.sampled_from(sorted(KNOWN_EMOTES)) | st.text(min_size=1, max_size=8))


@settings(max_examples=400, deadline=None)
@given(st.text(), emote_lists)
def test_always_within_bounds_and_deterministic(text: str, emotes: list[str] | None) -> None:
    value = score(text, emotes)
    assert -1.0 <= value <= 1.0
    assert value == score(text, emotes) == score(text, emotes)


CHAT_TOKENS = [
    *sorted(KNOWN_EMOTES)[:30], "Kappa", "KEKW", "GREAT", "not", "never", "no", "but", "very", "so", "kinda",
    "kind", "of", "sort",
    "least", "at", "without", "doubt", "this", "good", "GOOD", "bad", "BAD", "awesome!", "gooood", "lol",
    "yeah", "right", "let's", "go", "the", "shit", "game", "stream", "😂", "🔥", "😭", "❤️", "isn't", "!",
    "??",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(CHAT_TOKENS), max_size=12))
def test_the_plain_sum_shortcut_agrees_with_the_full_rules(tokens: list[str]) -> None:
    text = " ".join(tokens)
    fast = score(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lexicon, "_SIMPLE", lambda tok: False)
        assert score(text) == fast


def test_a_message_of_emoji_modifiers_only_is_neutral() -> None:
    assert score("\ufe0f") == score("\U0001f3fd \u200d") == 0.0


def test_huge_messages_stay_bounded() -> None:
    assert score("terrible " * 5000) >= -1.0
    assert score("awesome " * 5000 + "!" * 100) <= 1.0


def test_clearing_the_memo_does_not_change_results() -> None:
    lines = ["sooo goood", "KEKW KEKW", "not good", "nice🔥"]
    before = [score(line) for line in lines]
    clear_memo()
    assert [score(line) for line in lines] == before


# -- data files --------------------------------------------------------------------------------------------
def _rows(name: str) -> list[list[str]]:
    text = resources.files("telemetra.analytics").joinpath("data", name).read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [line.split("\t") for line in lines[1:]]


@pytest.mark.parametrize("name", ["chat_lexicon.tsv", "emoji_valence.tsv"])
def test_data_rows_are_traceable(name: str) -> None:
    allowed = {"vader", "vader-desc", "vader-special-case", "hand", "neutral"}
    rows = _rows(name)
    assert len({row[0] for row in rows}) == len(rows), "duplicate entries"
    for term, valence, basis, *_ in rows:
        kind, _, word = basis.partition(":")
        assert kind in allowed, term
        assert -4.0 <= float(valence) <= 4.0, term
        if kind == "vader":
            assert VADER_LEXICON[word] == float(valence), term


def test_emoji_valences_described_as_vaders_method_are_vaders_method() -> None:
    names = {}
    vader = resources.files("vaderSentiment").joinpath("emoji_utf8_lexicon.txt").read_text("utf-8")
    for line in vader.splitlines():
        emoji, _, name = line.strip().partition("\t")
        names[emoji] = name
    for emoji, valence, basis, *_ in _rows("emoji_valence.tsv"):
        if basis == "vader-desc":
            expected = sum(VADER_LEXICON.get(word.lower(), 0.0) for word in names[emoji].split())
            assert float(valence) == pytest.approx(expected), emoji
