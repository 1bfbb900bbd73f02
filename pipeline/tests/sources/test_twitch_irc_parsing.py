"""Twitch IRC parsing against lines in the exact form Twitch sends them (data/twitch_irc.txt)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from telemetra.contract import parse_ts, validate_event
from telemetra.sources.twitch_irc import (
    Control,
    IrcParseError,
    Moderation,
    Parsed,
    TwitchIrcParser,
    parse_badges,
    parse_emotes,
    parse_line,
    unescape_tag_value,
)

FIXTURE = Path(__file__).parent / "data" / "twitch_irc.txt"
LINES = [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line]


def line_with(fragment: str) -> str:
    (match,) = [line for line in LINES if fragment in line]
    return match


@pytest.fixture(scope="module")
def parsed() -> list[Parsed]:
    """The whole fixture through one parser, in order (mystery gifts need the preceding lines)."""
    parser = TwitchIrcParser("ninjabear")
    return [parser.parse(line) for line in LINES]


def events_of(parsed: list[Parsed], event_type: str) -> list[dict[str, Any]]:
    return [event for result in parsed for event in result.events if event["type"] == event_type]


def by_id(parsed: list[Parsed], twitch_id: str) -> dict[str, Any]:
    (event,) = [event for result in parsed for event in result.events if event["event_id"] == twitch_id]
    return event


# -- IRC syntax --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("escaped", "value"),
    [
        (r"plain", "plain"),
        (r"a\sb", "a b"),
        (r"semi\:colon", "semi;colon"),
        (r"back\\slash", "back\\slash"),
        (r"cr\rlf\n", "cr\rlf\n"),
        (r"\\s", "\\s"),  # an escaped backslash followed by "s" is not a space
        (r"unknown\x", "unknownx"),
        ("trailing\\", "trailing"),
    ],
)
def test_tag_values_are_unescaped(escaped: str, value: str) -> None:
    assert unescape_tag_value(escaped) == value


def test_line_splits_into_tags_prefix_command_params_and_trailing() -> None:
    message = parse_line(line_with("reply-parent-msg-body"))
    assert message.tags["reply-parent-msg-body"] == "Kappa Keepo Kappa"
    assert message.tags["flags"] == ""
    assert message.prefix == "modsquad!modsquad@modsquad.tmi.twitch.tv"
    assert message.nick == "modsquad"
    assert message.command == "PRIVMSG"
    assert message.params == ("#ninjabear",)
    assert message.channel == "ninjabear"
    assert message.trailing == "@Kappa_Fan calm down chat, that was a clean ace PogChamp"


def test_lines_without_tags_or_trailing() -> None:
    names = parse_line(":justinfan48213.tmi.twitch.tv 366 justinfan48213 #ninjabear :End of /NAMES list")
    assert (names.tags, names.command, names.params) == ({}, "366", ("justinfan48213", "#ninjabear"))
    reconnect = parse_line(":tmi.twitch.tv RECONNECT\r\n")
    assert (reconnect.prefix, reconnect.command, reconnect.params, reconnect.trailing) == (
        "tmi.twitch.tv",
        "RECONNECT",
        (),
        None,
    )
    assert parse_line("PING :tmi.twitch.tv").trailing == "tmi.twitch.tv"


def test_trailing_keeps_colons_and_spaces() -> None:
    assert parse_line(":a!a@a PRIVMSG #c :hi :) there  ").trailing == "hi :) there  "


@pytest.mark.parametrize(
    "line", ["", "   ", "@a=1;b=2", ": PRIVMSG #c :x", ":prefix-only", "@a=1 :p.tv ~~~ #c"]
)
def test_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(IrcParseError):
        TwitchIrcParser("c").parse(line)


def test_emote_positions_are_code_points_ordered_by_position_with_repeats() -> None:
    text = "Привет 🎉 Kappa Kappa LUL"  # "🎉" is one code point but two UTF-16 units
    assert parse_emotes("425618:21-23/25:9-13,15-19", text) == ["Kappa", "Kappa", "LUL"]
    assert parse_emotes("", text) == []
    assert parse_emotes("25:9-13,90-94/x:bad", text) == ["Kappa"]  # out of range / malformed: skipped


def test_badge_names_drop_versions() -> None:
    assert parse_badges("broadcaster/1,subscriber/3012,glhf-pledge/1") == [
        "broadcaster",
        "subscriber",
        "glhf-pledge",
    ]
    assert parse_badges("") == []


# -- the fixture, line by line -----------------------------------------------------------------------------
def test_fixture_is_big_enough_and_every_event_validates(parsed: list[Parsed]) -> None:
    assert len(LINES) >= 30
    events = [event for result in parsed for event in result.events]
    assert len(events) == 16
    for event in events:
        model = validate_event(event)
        assert model.stream_id == "ninjabear"
        assert model.event_id == event["event_id"]
    assert len({event["event_id"] for event in events}) == len(events)


def test_fixture_outcomes(parsed: list[Parsed]) -> None:
    outcomes = Counter(
        "event"
        if result.events
        else result.control or ("moderation" if result.moderation else result.ignored)
        for result in parsed
    )
    assert outcomes == {
        "event": 15,  # one of them (the cheer) yields two events
        "moderation": 4,
        Control.PONG: 1,
        Control.RECONNECT: 1,
        Control.WELCOME: 1,
        "USERNOTICE:subgift-in-mystery-gift": 5,
        "USERNOTICE:announcement": 1,
        "USERNOTICE:viewermilestone": 1,
        "ROOMSTATE": 2,
        "USERSTATE": 1,
        "NOTICE": 1,
        "JOIN": 1,
        "CAP": 1,
        **{numeric: 1 for numeric in ("002", "003", "004", "375", "372", "376", "353", "366")},
    }


def test_chat_with_repeated_emotes(parsed: list[Parsed]) -> None:
    chat = by_id(parsed, "twitch:b34ccfc7-4977-403a-8a94-33c6bac34fb8")
    assert chat == {
        "event_id": "twitch:b34ccfc7-4977-403a-8a94-33c6bac34fb8",
        "stream_id": "ninjabear",
        "type": "chat",
        "ts": "2025-11-27T16:00:00.123Z",
        "user_id": "40287455",
        "username": "Kappa_Fan",
        "text": "Kappa Keepo Kappa",
        "emotes": ["Kappa", "Keepo", "Kappa"],
        "badges": ["subscriber", "premium"],
        "bits": 0,
    }
    assert parse_ts(chat["ts"]) == 1764259200.123


def test_chat_with_non_ascii_text_before_emotes(parsed: list[Parsed]) -> None:
    chat = by_id(parsed, "twitch:5f0e7a9c-2b1d-4e3f-8a6b-9c0d1e2f3a4b")
    assert chat["username"] == "ゆきな"
    assert chat["text"] == "Привет 🎉 Kappa Kappa LUL"
    assert chat["emotes"] == ["Kappa", "Kappa", "LUL"]


def test_action_wrapper_is_stripped(parsed: list[Parsed]) -> None:
    chat = by_id(parsed, "twitch:c8e2a4f6-1b3d-4c5e-9f7a-0b2c4d6e8f1a")
    assert (chat["text"], chat["emotes"]) == ("waves Kappa", ["Kappa"])


def test_cheer_is_chat_with_bits_and_a_bits_transaction(parsed: list[Parsed]) -> None:
    chat = by_id(parsed, "twitch:3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7")
    assert (chat["bits"], chat["badges"], chat["emotes"]) == (100, ["bits"], [])
    cheer = by_id(parsed, "twitch:3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7:bits")
    assert (cheer["kind"], cheer["amount"], cheer["currency"], cheer["user_id"]) == (
        "bits",
        100.0,
        "BITS",
        "55512345",
    )
    only_chat = TwitchIrcParser("ninjabear", bits_transactions=False).parse(line_with("bits=100"))
    assert [event["type"] for event in only_chat.events] == ["chat"]


def test_reply_is_plain_chat(parsed: list[Parsed]) -> None:
    chat = by_id(parsed, "twitch:d1c2b3a4-9f8e-4d7c-b6a5-f4e3d2c1b0a9")
    assert (chat["emotes"], chat["badges"]) == (["PogChamp"], ["moderator", "partner"])


@pytest.mark.parametrize(
    ("twitch_id", "kind", "tier", "amount", "message"),
    [
        ("0b6c2b5a-4d5e-4a7b-9a55-3c1c6f0f7a01", "sub", "1000", 4.99, "first time sub, love the streams!"),
        (
            "6d7e8f90-a1b2-4c3d-8e4f-5a6b7c8d9e0f",
            "resub",
            "2000",
            9.99,
            "14 months already?! PogChamp PogChamp",
        ),
        ("2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d", "sub", "prime", 4.99, None),
        ("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "resub", "3000", 24.99, None),
    ],
)
def test_subscriptions(
    parsed: list[Parsed], twitch_id: str, kind: str, tier: str, amount: float, message: str | None
) -> None:
    event = by_id(parsed, f"twitch:{twitch_id}")
    assert (event["type"], event["kind"], event["tier"], event["amount"], event["currency"]) == (
        "transaction",
        kind,
        tier,
        amount,
        "USD",
    )
    assert event.get("message") == message


def test_gifts_count_once_whether_single_or_mystery(parsed: list[Parsed]) -> None:
    gifts = [event for event in events_of(parsed, "transaction") if event["kind"] == "gift"]
    assert [(gift["user_id"], gift["count"], gift["tier"], gift["amount"]) for gift in gifts] == [
        ("44556677", 1, "1000", 4.99),  # a single gift (its origin-id matches no mystery gift)
        ("99887766", 3, "1000", 14.97),  # a mystery gift: its 3 subgifts carry community-gift-id
        ("274598607", 2, "2000", 19.98),  # an anonymous mystery gift: its subgifts share only its origin-id
    ]


def test_subgift_of_an_unseen_origin_is_counted() -> None:
    parser = TwitchIrcParser("ninjabear")
    part = line_with("id=f5a6b7c8-d9e0-4fa1-b2c3-d4e5f6a7b8c9")  # its submysterygift was never seen
    assert [event["kind"] for event in parser.parse(part).events] == ["gift"]


def test_raid(parsed: list[Parsed]) -> None:
    (raid,) = events_of(parsed, "stream_meta")
    assert (raid["kind"], raid["from_stream"], raid["raid_viewers"]) == ("raid", "smallstreamer_tv", 237)
    shouting = line_with("msg-id=raid").replace(
        "msg-param-login=smallstreamer_tv", "msg-param-login=SmallStreamer_TV"
    )
    assert TwitchIrcParser("ninjabear").parse(shouting).events[0]["from_stream"] == "smallstreamer_tv"


def test_moderation_is_typed_not_an_event(parsed: list[Parsed]) -> None:
    actions = [result.moderation for result in parsed if result.moderation is not None]
    ts = "2025-11-27T16:02:2{}.000Z".format
    assert actions == [
        Moderation(
            "delete",
            "ninjabear",
            ts(0),
            target_login="spam_bot_42",
            target_message_id="7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        ),
        Moderation("ban", "ninjabear", ts(1), target_login="spam_bot_42", target_user_id="66612345"),
        Moderation(
            "timeout", "ninjabear", ts(2), target_login="kappa_fan", target_user_id="40287455", duration_s=600
        ),
        Moderation("clear", "ninjabear", ts(3)),
    ]


def test_ping_asks_for_pong_and_reconnect_is_signalled(parsed: list[Parsed]) -> None:
    (ping,) = [result for result in parsed if result.command == "PING"]
    assert (ping.control, ping.reply) == (Control.PONG, "PONG :tmi.twitch.tv")
    assert parsed[-1].control is Control.RECONNECT
    assert not parsed[-1].events


def test_notice_text_is_kept_for_logging(parsed: list[Parsed]) -> None:
    (notice,) = [result for result in parsed if result.command == "NOTICE"]
    assert notice.notice == "This room is now in emote-only mode."


# -- edge cases --------------------------------------------------------------------------------------------
def test_event_id_without_twitch_id_is_a_stable_hash() -> None:
    line = line_with("display-name=lurker_99").replace("id=e0f1a2b3-c4d5-4e6f-a7b8-c9d0e1f2a3b4;", "")
    first, again = TwitchIrcParser("ninjabear").parse(line), TwitchIrcParser("ninjabear").parse(line)
    assert first.events[0]["event_id"] == again.events[0]["event_id"]
    assert first.events[0]["event_id"].startswith("twitch:sha256:")
    validate_event(first.events[0])


def test_missing_tmi_sent_ts_falls_back_to_the_clock() -> None:
    parser = TwitchIrcParser("c", clock=lambda: 1764259200.0)
    (chat,) = parser.parse(":a!a@a.tmi.twitch.tv PRIVMSG #c :hello").events
    assert (chat["ts"], chat["username"]) == ("2025-11-27T16:00:00.000Z", "a")
    assert "emotes" not in chat  # no tag: left for the analytics core to recognise


def test_other_channels_and_empty_messages_are_ignored() -> None:
    parser = TwitchIrcParser("#NinjaBear")
    assert parser.stream_id == "ninjabear"
    assert (
        parser.parse(line_with(";id=b34ccfc7").replace("#ninjabear", "#elsewhere")).ignored
        == "PRIVMSG:other-channel"
    )
    assert parser.parse("@user-id=1;display-name=A :a!a@a PRIVMSG #ninjabear :\x01ACTION \x01").ignored == (
        "PRIVMSG:empty"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("msg-param-sub-plan=1000", "msg-param-sub-plan=4000"),
        ("tmi-sent-ts=1764259260000", "tmi-sent-ts=soon"),
    ],
)
def test_unusable_tags_are_parse_errors(old: str, new: str) -> None:
    line = line_with("display-name=NewSubber").replace(old, new)
    with pytest.raises(IrcParseError):
        TwitchIrcParser("ninjabear").parse(line)
