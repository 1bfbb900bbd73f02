"""The less common Twitch message kinds and the corners of the IRC syntax.

The lines are in the exact form Twitch sends, built from the examples and tag lists of Twitch's own reference
(dev.twitch.tv/docs/irc/tags "IRC tags reference", dev.twitch.tv/docs/irc/commands "IRC commands",
dev.twitch.tv/docs/chat/irc "shared chat" tags ``source-room-id``/``source-id``, and the Hype Chat tags
``pinned-chat-paid-*``), with the ids and names of the fixture's channel (#ninjabear, room 71092938).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from telemetra.analytics.revenue import revenue_usd
from telemetra.contract import TransactionEvent, parse_event, validate_event
from telemetra.sources.twitch_irc import (
    Control,
    IrcParseError,
    Moderation,
    Parsed,
    TwitchIrcParser,
    parse_emotes,
    parse_line,
    strip_action,
)

ROOM = "71092938"  # #ninjabear
OTHER_ROOM = "12826"  # the channel #ninjabear shares its chat with


def privmsg(text: str, *, emotes: str = "", extra: str = "", login: str = "kappa_fan", user_id: str = "40287455",
            msg_id: str = "b34ccfc7-4977-403a-8a94-33c6bac34fb8") -> str:  # fmt: skip
    """A PRIVMSG as Twitch sends it with the tags capability (tag order as in Twitch's examples)."""
    user = f"user-id={user_id};" if user_id else ""
    return (
        f"@badge-info=;badges=;color=#1E90FF;display-name={login};emotes={emotes};first-msg=0;flags=;"
        f"id={msg_id};mod=0;{extra}returning-chatter=0;room-id={ROOM};subscriber=0;"
        f"tmi-sent-ts=1764259200123;turbo=0;{user}user-type= "
        f":{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #ninjabear :{text}"
    )


def usernotice(msg_id: str, params: str, *, text: str | None = None, login: str = "newsubber",
               user_id: str = "71234567", twitch_id: str = "0b6c2b5a-4d5e-4a7b-9a55-3c1c6f0f7a01") -> str:  # fmt: skip
    trailing = "" if text is None else f" :{text}"
    return (
        f"@badge-info=subscriber/1;badges=subscriber/0;color=;display-name={login};emotes=;flags=;"
        f"id={twitch_id};login={login};mod=0;msg-id={msg_id};{params};room-id={ROOM};subscriber=1;"
        f"system-msg=;tmi-sent-ts=1764259260000;user-id={user_id};user-type=;vip=0 "
        f":tmi.twitch.tv USERNOTICE #ninjabear{trailing}"
    )


def parse(line: str, parser: TwitchIrcParser | None = None) -> Parsed:
    parsed = (parser or TwitchIrcParser("ninjabear")).parse(line)
    for event in parsed.events:
        validate_event(event)
    return parsed


def only(parsed: Parsed) -> dict[str, Any]:
    (event,) = parsed.events
    return event


# -- IRC syntax: the final parameter -----------------------------------------------------------------------
def test_clearchat_target_without_a_colon_is_a_ban_not_a_clear() -> None:
    with_colon = "@room-id=71092938;target-user-id=66612345;tmi-sent-ts=1764259341000 " \
                 ":tmi.twitch.tv CLEARCHAT #ninjabear :spam_bot_42"  # fmt: skip
    without = with_colon.replace(":spam_bot_42", "spam_bot_42")
    expected = Moderation("ban", "ninjabear", "2025-11-27T16:02:21.000Z", "spam_bot_42", "66612345")
    assert parse(with_colon).moderation == expected
    assert parse(without).moderation == expected
    timeout = parse(without.replace("@room-id", "@ban-duration=60;room-id")).moderation
    assert timeout is not None and (timeout.kind, timeout.duration_s) == ("timeout", 60)
    clear = "@room-id=71092938;tmi-sent-ts=1764259343000 :tmi.twitch.tv CLEARCHAT #ninjabear"
    assert parse(clear).moderation == Moderation("clear", "ninjabear", "2025-11-27T16:02:23.000Z")


def test_final_parameter_without_a_colon_is_the_text() -> None:
    message = parse_line(":ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ninjabear gg")
    assert (message.params, message.trailing, message.text) == (("#ninjabear", "gg"), None, "gg")
    chat = only(parse(privmsg("gg").replace(" :gg", " gg")))
    assert chat["text"] == "gg"
    assert parse_line(":tmi.twitch.tv RECONNECT").text is None
    assert parse_line("@room-id=1 :tmi.twitch.tv ROOMSTATE #ninjabear").text is None


# -- /me ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("\x01ACTION waves Kappa\x01", "waves Kappa"),
        ("\x01ACTION waves", "waves"),  # the closing \x01 is optional in practice
        ("\x01ACTION\x01", ""),
        ("\x01ACTION \x01", ""),
        ("\x01ACTIONS are louder\x01", "\x01ACTIONS are louder\x01"),  # not the CTCP verb
        ("plain", "plain"),
    ],
)
def test_action_wrapper(text: str, stripped: str) -> None:
    assert strip_action(text) == stripped


@pytest.mark.parametrize("text", ["\x01ACTION\x01", "\x01ACTION \x01", "\x01ACTION   \x01", "\x01"])
def test_an_empty_me_is_not_chat(text: str) -> None:
    assert parse(privmsg(text)).ignored == "PRIVMSG:empty"


def test_action_is_stripped_from_a_usernotice_message() -> None:
    resub = usernotice("resub", "msg-param-cumulative-months=14;msg-param-sub-plan=2000",
                       text="\x01ACTION is back for month 14 PogChamp\x01")  # fmt: skip
    assert only(parse(resub))["message"] == "is back for month 14 PogChamp"
    empty = usernotice(
        "resub", "msg-param-cumulative-months=14;msg-param-sub-plan=2000", text="\x01ACTION\x01"
    )
    assert "message" not in only(parse(empty))


# -- emotes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "text", "names"),
    [
        # right, as a baseline
        ("25:0-4/1902:6-10", "Kappa Keepo", ["Kappa", "Keepo"]),
        # one too far: "appa " and a last emote past the end (dropped before)
        ("25:1-5/1902:7-11", "Kappa Keepo", ["Kappa", "Keepo"]),
        # one short, as after an emoji counted as two
        ("25:4-8,10-14", "hi 🎉 Kappa Kappa", ["Kappa", "Kappa"]),
        ("25:5-9,11-15", "hi 🎉 Kappa Kappa", ["Kappa", "Kappa"]),  # UTF-16 positions (+1 after the emoji)
        ("25:0-4,12-16/1902:6-10", "Kappa Keepo Kappa", ["Kappa", "Keepo", "Kappa"]),
        # a range that fits no word nearby is skipped, the rest kept
        ("25:0-4/88:20-24", "Kappa then a long sentence", ["Kappa"]),
        ("25:40-44/1902:6-10", "Kappa Keepo", ["Keepo"]),
    ],
)
def test_misplaced_emote_ranges_are_realigned_to_words(tag: str, text: str, names: list[str]) -> None:
    found = parse_emotes(tag, text)
    assert found == names
    assert not any(" " in name for name in found)


def test_realigned_emotes_in_a_real_line() -> None:
    chat = only(parse(privmsg("LUL that was close KEKW", emotes="425618:1-3/555555584:20-23")))
    assert chat["emotes"] == ["LUL", "KEKW"]


# -- not chat ----------------------------------------------------------------------------------------------
def test_legacy_jtv_host_notice_is_not_chat() -> None:
    line = ":jtv!jtv@jtv.tmi.twitch.tv PRIVMSG #ninjabear :SmallStreamer_TV is now hosting you."
    assert parse(line).ignored == "PRIVMSG:jtv"
    assert parse(line).events == ()


def test_a_line_without_user_id_gets_a_login_id_and_is_flagged() -> None:
    parsed = parse(privmsg("1234 is my lucky number", login="n1234", user_id=""))
    chat = only(parsed)
    assert (chat["user_id"], chat["username"]) == ("login:n1234", "n1234")
    assert parsed.anomaly == "PRIVMSG:no-user-id"
    assert parse(privmsg("hi")).anomaly is None
    sub = parse(usernotice("sub", "msg-param-sub-plan=1000").replace("user-id=71234567;", ""))
    assert (only(sub)["user_id"], sub.anomaly) == ("login:newsubber", "USERNOTICE:sub:no-user-id")


# -- shared chat -------------------------------------------------------------------------------------------
SHARED = "source-badge-info=;source-badges=;source-id=9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b;source-room-id={};"


def test_shared_chat_from_another_room_is_not_this_channels_chat() -> None:
    elsewhere = parse(
        privmsg("hello from the other stream Kappa", emotes="25:28-32", extra=SHARED.format(OTHER_ROOM))
    )
    assert (elsewhere.events, elsewhere.ignored, elsewhere.confirms_join) == ((), "PRIVMSG:shared-chat", True)
    own = parse(privmsg("hello from home", extra=SHARED.format(ROOM)))
    assert only(own)["text"] == "hello from home"
    gift = usernotice("sharedchatnotice", "msg-param-sub-plan=1000;source-msg-id=subgift;"
                      f"msg-param-recipient-id=1;{SHARED.format(OTHER_ROOM)}msg-param-gift-months=1")  # fmt: skip
    assert parse(gift).ignored == "USERNOTICE:shared-chat"
    cheer = privmsg("Cheer500 hype", extra="bits=500;" + SHARED.format(OTHER_ROOM))
    assert parse(cheer).events == ()


# -- money -------------------------------------------------------------------------------------------------
def money(parsed: Parsed) -> tuple[str, str | None, float, str, int]:
    event = only(parsed)
    return event["kind"], event.get("tier"), event["amount"], event["currency"], event.get("count", 1)


def test_multi_month_gift_is_valued_for_its_months() -> None:
    params = ("msg-param-gift-months={};msg-param-months=1;msg-param-origin-id=11\\s22;msg-param-recipient-id=80011122;"
              "msg-param-recipient-user-name=luckyone;msg-param-sender-count=7;msg-param-sub-plan=1000")  # fmt: skip
    assert money(parse(usernotice("subgift", params.format(6)))) == ("gift", "1000", 29.94, "USD", 1)
    assert money(parse(usernotice("subgift", params.format(1)))) == ("gift", "1000", 4.99, "USD", 1)
    assert money(parse(usernotice("anonsubgift", params.format(3).replace("=1000", "=2000")))) == (
        "gift", "2000", 29.97, "USD", 1)  # fmt: skip


def test_months_reach_the_contract_and_the_revenue() -> None:
    """The months ride in the event (contract revision 2), so the analytics value the sub or gift for them."""
    gift = only(parse(usernotice("subgift", "msg-param-gift-months=6;msg-param-recipient-id=80011122;"
                                            "msg-param-sub-plan=1000")))  # fmt: skip
    resub = only(parse(usernotice("resub", "msg-param-cumulative-months=14;msg-param-multimonth-duration=3;"
                                           "msg-param-multimonth-tenure=0;msg-param-sub-plan=2000")))  # fmt: skip
    for raw, months, usd in ((gift, 6, 29.94), (resub, 3, 29.97)):
        event = parse_event(orjson.dumps(raw))
        assert isinstance(event, TransactionEvent) and event.months == months
        value = revenue_usd(event.kind, event.amount, event.currency, event.tier, event.count, event.months)
        assert value == pytest.approx(usd) == pytest.approx(event.amount)
    assert parse_event(orjson.dumps(resub)).tenure_months == 14  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("duration", "tenure", "amount"),
    [("0", "0", 4.99), ("1", "0", 4.99), ("3", "0", 14.97), ("6", "0", 29.94), ("6", "2", 4.99)],
)
def test_multi_month_sub_is_valued_for_the_months_bought(duration: str, tenure: str, amount: float) -> None:
    params = f"msg-param-cumulative-months=3;msg-param-multimonth-duration={duration};" \
             f"msg-param-multimonth-tenure={tenure};msg-param-sub-plan=1000"  # fmt: skip
    assert money(parse(usernotice("resub", params))) == ("resub", "1000", amount, "USD", 1)


def test_paid_upgrades_are_new_subs() -> None:
    prime = usernotice("primepaidupgrade", "msg-param-sub-plan=2000")
    assert money(parse(prime)) == ("sub", "2000", 9.99, "USD", 1)
    gift = usernotice(
        "giftpaidupgrade", "msg-param-sender-login=generousguy;msg-param-sender-name=GenerousGuy"
    )
    assert money(parse(gift)) == ("sub", None, 4.99, "USD", 1)  # the tags name no plan: tier unknown
    anonymous = usernotice("anongiftpaidupgrade", "msg-param-promo-gift-total=0")
    assert money(parse(anonymous)) == ("sub", None, 4.99, "USD", 1)


COMMUNITY = "msg-param-community-gift-id=4821053479221183312;msg-param-origin-id=4821053479221183312"


def test_community_gift_part_counts_when_its_mystery_gift_was_not_seen() -> None:
    part = usernotice("subgift", f"{COMMUNITY};msg-param-gift-months=1;msg-param-sub-plan=1000",
                      twitch_id="b1c2d3e4-f5a6-4b7c-9d8e-f9a0b1c2d3e4")  # fmt: skip
    mystery = usernotice("submysterygift", f"{COMMUNITY};msg-param-mass-gift-count=3;msg-param-sub-plan=1000",
                         twitch_id="a0b1c2d3-e4f5-4a6b-8c7d-e8f9a0b1c2d3")  # fmt: skip
    joined_late = TwitchIrcParser("ninjabear")
    assert money(parse(part, joined_late)) == ("gift", "1000", 4.99, "USD", 1)
    whole = TwitchIrcParser("ninjabear")
    assert money(parse(mystery, whole)) == ("gift", "1000", 14.97, "USD", 3)
    assert parse(part, whole).ignored == "USERNOTICE:subgift-in-mystery-gift"  # not counted twice


HYPE = "pinned-chat-paid-amount={};pinned-chat-paid-canonical-amount={};pinned-chat-paid-currency={};" \
       "pinned-chat-paid-exponent={};pinned-chat-paid-is-system-message={};pinned-chat-paid-level=ONE;"  # fmt: skip


def test_hype_chat_is_chat_and_a_donation_in_its_currency() -> None:
    parsed = parse(privmsg("great stream, keep it up!", extra=HYPE.format(500, 500, "USD", 2, 0)))
    chat, paid = parsed.events
    assert (chat["type"], chat["text"]) == ("chat", "great stream, keep it up!")
    assert paid["event_id"] == chat["event_id"] + ":hype-chat"
    assert (paid["kind"], paid["amount"], paid["currency"], paid["user_id"], paid["message"]) == (
        "donation", 5.0, "USD", "40287455", "great stream, keep it up!")  # fmt: skip
    yen = only(parse(privmsg("User sent Hype Chat", extra=HYPE.format(1500, 1500, "JPY", 0, 1))))
    assert (yen["type"], yen["amount"], yen["currency"], "message" in yen) == (
        "transaction",
        1500.0,
        "JPY",
        False,
    )


@pytest.mark.parametrize("bad", [HYPE.format(500, 500, "DOLLARS", 2, 0), HYPE.format(500, 500, "USD", 12, 0),
                                 HYPE.format("5.00", 500, "USD", 2, 0)])  # fmt: skip
def test_unusable_hype_chat_tags_are_parse_errors(bad: str) -> None:
    with pytest.raises(IrcParseError):
        parse(privmsg("x", extra=bad))


# -- what the client acts on -------------------------------------------------------------------------------
def test_join_welcome_and_unavailable_channel_signals() -> None:
    parser = TwitchIrcParser("ninjabear")
    assert parser.parse(":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!").control is Control.WELCOME
    assert parser.parse("@room-id=71092938 :tmi.twitch.tv ROOMSTATE #ninjabear").confirms_join
    assert not parser.parse("@room-id=1 :tmi.twitch.tv ROOMSTATE #elsewhere").confirms_join
    assert not parser.parse(":justinfan1!justinfan1@justinfan1.tmi.twitch.tv JOIN #ninjabear").confirms_join
    assert parser.parse(privmsg("hi")).confirms_join
    suspended = parser.parse(
        "@msg-id=msg_channel_suspended :tmi.twitch.tv NOTICE #ninjabear "
        ":This channel does not exist or has been suspended."
    )
    assert (suspended.control, suspended.notice) == (
        Control.CHANNEL_UNAVAILABLE, "This channel does not exist or has been suspended.")  # fmt: skip
    refused = parser.parse(":tmi.twitch.tv NOTICE * :Login authentication failed")
    assert refused.control is Control.LOGIN_FAILED
    emote_only = parser.parse(
        "@msg-id=emote_only_on :tmi.twitch.tv NOTICE #ninjabear :This room is now in emote-only mode."
    )
    assert emote_only.control is None  # fmt: skip
