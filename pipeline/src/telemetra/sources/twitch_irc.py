"""Twitch chat (IRC with IRCv3 tags) → contract events. Pure parsing: no I/O, no clocks unless asked.

Twitch sends one IRC line per message, with the ``twitch.tv/tags`` and ``twitch.tv/commands``
capabilities adding ``@key=value;…`` tags and the USERNOTICE / CLEARCHAT / CLEARMSG / RECONNECT commands.
:class:`TwitchIrcParser` turns each line into a :class:`Parsed` result the client acts on.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from telemetra.contract import MAX_CHAT_TEXT, format_ts
from telemetra.sinks.base import RawEvent

# List prices in USD; Prime is valued like a tier-1 sub.
SUB_PRICES_USD = {"1000": 4.99, "2000": 9.99, "3000": 24.99, "prime": 4.99}
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ACTION = "\x01ACTION"
_MSG_ID_ALIASES = {
    "anonsubgift": "subgift",
    "anonsubmysterygift": "submysterygift",
    "anongiftpaidupgrade": "giftpaidupgrade",
}
_CHANNEL_COMMANDS = frozenset({"PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG"})
# NOTICE msg-ids that mean the channel cannot be read (Twitch's "msg-id tags for the NOTICE commands").
CHANNEL_UNAVAILABLE_NOTICES = frozenset({"msg_channel_suspended", "tos_ban"})
# NOTICE texts (on ``*``, without a msg-id) that mean the login was refused.
_LOGIN_FAILURES = ("Login authentication failed", "Login unsuccessful", "Improperly formatted auth")
_LEGACY_SYSTEM_NICK = "jtv"  # sent host notices as chat lines ("X is now hosting you.")
_MAX_EMOTE_NAME = 64
_MAX_EMOTE_SHIFT = 3  # how far a misplaced emote range is moved to find its word
_MAX_BADGES = 32
_MAX_CURRENCY_EXPONENT = 8


class IrcParseError(ValueError):
    """A line that is not IRC, or a Twitch message whose tags cannot be used."""


@dataclass(frozen=True, slots=True)
class IrcMessage:
    """One IRC line: ``[@tags] [:prefix] COMMAND [params…] [:trailing]``."""

    tags: dict[str, str]
    prefix: str | None
    command: str
    params: tuple[str, ...]
    trailing: str | None

    @property
    def nick(self) -> str | None:
        """``ronni`` from the prefix ``ronni!ronni@ronni.tmi.twitch.tv``."""
        if self.prefix is None or "!" not in self.prefix:
            return None
        return self.prefix.split("!", 1)[0]

    @property
    def channel(self) -> str | None:
        """The channel login (lowercase, without ``#``) the message is about, if any."""
        if self.params and self.params[0].startswith("#"):
            return self.params[0][1:].lower()
        return None

    @property
    def text(self) -> str | None:
        """The final parameter after the target: the trailing one, or a last middle one without ``:``.

        IRC makes the ``:`` optional when the last parameter has no space, and Twitch's servers use that form
        for short ones (``CLEARCHAT #chan spam_bot``), so both spellings must read the same.
        """
        if self.trailing is not None:
            return self.trailing
        return self.params[-1] if len(self.params) >= 2 else None


class Control(StrEnum):
    PONG = "pong"  # send ``Parsed.reply`` back
    RECONNECT = "reconnect"  # the server is going away: reconnect
    WELCOME = "welcome"  # 001: the login was accepted
    CHANNEL_UNAVAILABLE = "channel-unavailable"  # the channel does not exist or is suspended (``notice``)
    LOGIN_FAILED = "login-failed"  # the server refused the login (``notice``)


ModerationKind = Literal["ban", "timeout", "clear", "delete"]


@dataclass(frozen=True, slots=True)
class Moderation:
    """A CLEARCHAT (ban, timeout, whole-chat clear) or CLEARMSG (one message deleted)."""

    kind: ModerationKind
    stream_id: str
    ts: str
    target_login: str | None = None
    target_user_id: str | None = None
    target_message_id: str | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one line means: events to forward, a control action, a moderation action, or why nothing."""

    command: str
    events: tuple[RawEvent, ...] = ()
    control: Control | None = None
    reply: str | None = None  # a line to send back to the server
    moderation: Moderation | None = None
    ignored: str | None = None  # why the line produced nothing, e.g. "ROOMSTATE" or "USERNOTICE:announcement"
    notice: str | None = None  # NOTICE text, worth logging
    anomaly: str | None = None  # used, but something was off (e.g. "PRIVMSG:no-user-id"); worth counting
    # The channel's ROOMSTATE or a line only a joined room gets: the JOIN worked. A JOIN echo is not enough,
    # Twitch echoes a JOIN to a channel that does not exist.
    confirms_join: bool = False


# -- IRC syntax --------------------------------------------------------------------------------------------
def unescape_tag_value(value: str) -> str:
    r"""IRCv3 tag-value unescaping: ``\s`` space, ``\:`` ``;``, ``\\``, ``\r``, ``\n``; ``\x`` → ``x``."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")  # a lone trailing backslash is dropped
            out.append(_TAG_ESCAPES.get(escaped, escaped))
        else:
            out.append(char)
    return "".join(out)


def parse_tags(raw: str) -> dict[str, str]:
    r"""``a=1;b=x\sy;c`` → ``{"a": "1", "b": "x y", "c": ""}``."""
    tags: dict[str, str] = {}
    for item in raw.split(";"):
        if item:
            key, _, value = item.partition("=")
            tags[key] = unescape_tag_value(value)
    return tags


def parse_line(line: str) -> IrcMessage:
    """Split one IRC line into tags, prefix, command, middle params and trailing param."""
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, _, rest = rest[1:].partition(" ")
        tags = parse_tags(raw_tags)
    rest = rest.lstrip(" ")
    prefix: str | None = None
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        if not prefix:
            raise IrcParseError("empty prefix")
    middle, has_trailing, trailing = rest.lstrip(" ").partition(" :")
    words = middle.split()
    if not words:
        raise IrcParseError("no command")
    command = words[0].upper()
    if not (command.isalpha() or (command.isdigit() and len(command) == 3)):
        raise IrcParseError(f"invalid command {words[0]!r}")
    return IrcMessage(tags, prefix, command, tuple(words[1:]), trailing if has_trailing else None)


def parse_emotes(tag: str, text: str) -> list[str]:
    """The ``emotes`` tag (``25:0-4,12-16/1902:6-10``) → emote names in order of position, repeats kept.

    Positions are code-point indices into ``text``. Twitch occasionally sends them off by one or two (after
    some emoji, for instance), which would cut a name across a space and push the last emote past the end.
    An emote is always a whole space-separated word, so a range that is not one is moved to the nearest
    same-length word (:func:`realign_emote`); a range that fits nowhere is skipped, never the message.
    """
    spans: dict[int, str] = {}
    for group in tag.split("/"):
        _, _, ranges = group.partition(":")
        for span in ranges.split(","):
            start_text, _, end_text = span.partition("-")
            if not (start_text.isdigit() and end_text.isdigit()):
                continue
            start, end = int(start_text), int(end_text)
            if end < start or end - start >= _MAX_EMOTE_NAME:
                continue
            if (found := realign_emote(text, start, end)) is not None:
                spans.setdefault(found, text[found : found + end - start + 1])
    return [name for _, name in sorted(spans.items())]


def realign_emote(text: str, start: int, end: int) -> int | None:
    """Where the emote Twitch placed at ``start..end`` really starts: there if that is a whole word, else the
    nearest shift (up to ``_MAX_EMOTE_SHIFT``) that makes it one; ``None`` if no shift does."""
    for distance in range(_MAX_EMOTE_SHIFT + 1):
        for shift in (-distance, distance) if distance else (0,):
            if _is_word(text, start + shift, end + shift):
                return start + shift
    return None


def _is_word(text: str, start: int, end: int) -> bool:
    """``text[start..end]`` is a whole space-separated word."""
    if start < 0 or end >= len(text):
        return False
    if start > 0 and not text[start - 1].isspace():
        return False
    if end + 1 < len(text) and not text[end + 1].isspace():
        return False
    return not any(char.isspace() for char in text[start : end + 1])


def strip_action(text: str) -> str:
    r"""``\x01ACTION waves\x01`` (a ``/me`` line) → ``waves``; ``\x01ACTION\x01`` (an empty one) → ``""``."""
    if not text.startswith(_ACTION):
        return text
    rest = text[len(_ACTION) :]
    if rest and rest[0] not in " \x01":
        return text  # "\x01ACTIONS…" is not the CTCP ACTION
    return rest.removeprefix(" ").removesuffix("\x01")


def has_content(text: str) -> bool:
    """Something a person wrote: not only spaces and control characters."""
    return any(char.isprintable() and not char.isspace() for char in text)


def parse_badges(tag: str) -> list[str]:
    """``broadcaster/1,subscriber/12`` → ``["broadcaster", "subscriber"]``."""
    names = [item.partition("/")[0] for item in tag.split(",")]
    return [name[:64] for name in names if name][:_MAX_BADGES]


# -- Twitch semantics --------------------------------------------------------------------------------------
class TwitchIrcParser:
    """Maps Twitch IRC lines for one channel to contract events.

    Stateful only to recognise the individual ``subgift`` notices that follow a ``submysterygift``: the
    mystery gift already carries the whole count, so its parts are skipped and revenue is not doubled.
    """

    def __init__(
        self,
        channel: str,
        *,
        clock: Callable[[], float] = time.time,
        bits_transactions: bool = True,
        memory: int = 1024,
    ):
        self.stream_id = channel.lstrip("#").lower()
        self._clock = clock  # event time for the rare message without ``tmi-sent-ts``
        # A cheer is chat and money: also emit a kind=bits transaction so revenue by kind includes bits.
        self._bits_transactions = bits_transactions
        self._mystery_gifts: OrderedDict[str, None] = OrderedDict()
        self._memory = memory

    def parse(self, line: str) -> Parsed:
        """Parse one line (without or with its CRLF); raise :class:`IrcParseError` if it is unusable."""
        return self.parse_message(parse_line(line), line)

    def parse_message(self, message: IrcMessage, line: str) -> Parsed:
        """:meth:`parse` for a line already split by :func:`parse_line`: a connection carrying many channels
        splits each line once to find its channel, then hands it to that channel's parser."""
        try:
            return self._dispatch(message, line.rstrip("\r\n"))
        except IrcParseError:
            raise
        except ValueError as error:
            raise IrcParseError(f"{message.command}: {error}") from None

    def _dispatch(self, message: IrcMessage, line: str) -> Parsed:
        command = message.command
        if command == "PING":
            server = message.trailing or (message.params[0] if message.params else "tmi.twitch.tv")
            return Parsed(command, control=Control.PONG, reply=f"PONG :{server}")
        if command == "RECONNECT":
            return Parsed(command, control=Control.RECONNECT)
        if command == "001":
            return Parsed(command, control=Control.WELCOME, ignored=command)
        if command == "NOTICE":
            return self._notice(message)
        if command == "ROOMSTATE" and message.channel == self.stream_id:
            return Parsed(command, ignored=command, confirms_join=True)
        if command not in _CHANNEL_COMMANDS:
            return Parsed(command, ignored=command)
        if message.channel != self.stream_id:
            return Parsed(command, ignored=f"{command}:other-channel")
        if _from_another_room(message.tags):
            # Shared chat: the line was written in another channel of the session. Counting it here would
            # add that channel's chat, chatters and money to this one's.
            return Parsed(command, ignored=f"{command}:shared-chat", confirms_join=True)
        if command == "PRIVMSG":
            parsed = self._privmsg(message, line)
        elif command == "USERNOTICE":
            parsed = self._usernotice(message, line)
        else:
            parsed = Parsed(command, moderation=self._moderation(message))
        return replace(parsed, confirms_join=True)

    def _notice(self, message: IrcMessage) -> Parsed:
        text, msg_id = message.text or "", message.tags.get("msg-id", "")
        control = None
        if msg_id in CHANNEL_UNAVAILABLE_NOTICES and message.channel in (None, self.stream_id):
            control = Control.CHANNEL_UNAVAILABLE
        elif not msg_id and text.startswith(_LOGIN_FAILURES):
            control = Control.LOGIN_FAILED
        return Parsed(message.command, control=control, ignored=message.command, notice=text)

    # -- chat --------------------------------------------------------------------------------------------
    def _privmsg(self, message: IrcMessage, line: str) -> Parsed:
        tags = message.tags
        if message.nick == _LEGACY_SYSTEM_NICK:
            return Parsed(message.command, ignored="PRIVMSG:jtv")  # a host notice, not anyone's chat
        text = strip_action(message.text or "")  # /me: emote positions are relative to the unwrapped text
        if not has_content(text):
            return Parsed(message.command, ignored="PRIVMSG:empty")
        user_id, anomaly = _user_id(message)
        username = tags.get("display-name", "").strip() or message.nick or tags.get("login") or user_id
        chat = self._event(message, line, "chat")
        chat.update(user_id=user_id, username=username[:64], text=text[:MAX_CHAT_TEXT])
        if "emotes" in tags:
            chat["emotes"] = parse_emotes(tags["emotes"], text)
        chat["badges"] = parse_badges(tags.get("badges", ""))
        chat["bits"] = bits = _int_tag(tags, "bits", default=0)
        events: list[RawEvent] = []
        if tags.get("pinned-chat-paid-is-system-message") != "1":  # else Twitch wrote the text, not the user
            events.append(chat)
        if bits > 0 and self._bits_transactions:
            cheer = self._event(message, line, "transaction", suffix=":bits")
            cheer.update(
                kind="bits", user_id=user_id, amount=float(bits), currency="BITS", message=chat["text"]
            )
            events.append(cheer)
        if (paid := _hype_chat(tags)) is not None:
            events.append(self._hype_chat(message, line, user_id, paid, events[0] if events else None))
        return Parsed(message.command, events=tuple(events), anomaly=anomaly)

    def _hype_chat(
        self, message: IrcMessage, line: str, user_id: str, paid: tuple[float, str], chat: RawEvent | None
    ) -> RawEvent:
        """A Hype Chat (a paid pinned message) as a ``donation``: the contract's only kind that carries an
        amount in the payer's own currency, which the analytics core converts to dollars."""
        amount, currency = paid
        event = self._event(message, line, "transaction", suffix=":hype-chat")
        event.update(kind="donation", user_id=user_id, amount=amount, currency=currency)
        if chat is not None:
            event["message"] = chat["text"]
        return event

    # -- USERNOTICE: subs, gifts, raids --------------------------------------------------------------------
    def _usernotice(self, message: IrcMessage, line: str) -> Parsed:
        msg_id = message.tags.get("msg-id", "")
        msg_id = _MSG_ID_ALIASES.get(msg_id, msg_id)
        if msg_id in ("sub", "resub"):
            event = self._subscription(message, line, msg_id, months=_months_paid(message.tags))
        elif msg_id == "primepaidupgrade":  # a Prime sub turned into a paid one, at msg-param-sub-plan
            event = self._subscription(message, line, "sub", months=1)
        elif msg_id == "giftpaidupgrade":
            event = self._gift_continued(message, line)
        elif msg_id == "subgift":
            if self._is_mystery_part(message.tags):
                return Parsed(message.command, ignored="USERNOTICE:subgift-in-mystery-gift")
            event = self._gift(
                message, line, count=1, months=_int_tag(message.tags, "msg-param-gift-months", 1)
            )
        elif msg_id == "submysterygift":
            self._remember_mystery(message.tags)
            event = self._gift(
                message, line, count=_int_tag(message.tags, "msg-param-mass-gift-count"), months=1
            )
        elif msg_id == "raid":
            event = self._raid(message, line)
        else:
            return Parsed(message.command, ignored=f"USERNOTICE:{msg_id or '?'}")
        anomaly = None if message.tags.get("user-id") else f"USERNOTICE:{msg_id}:no-user-id"
        return Parsed(message.command, events=(event,), anomaly=anomaly)

    def _subscription(self, message: IrcMessage, line: str, kind: str, months: int) -> RawEvent:
        """A sub or resub, valued at its tier's price for every month paid with it."""
        tier = _tier(message.tags)
        event = self._transaction(message, line, kind, round(SUB_PRICES_USD[tier] * months, 2), tier)
        if months > 1:
            event["months"] = min(months, 120)  # the contract's bound; Twitch sells at most 12
        tenure = _int_tag(message.tags, "msg-param-cumulative-months", default=0)
        if kind == "resub" and tenure > 0:
            event["tenure_months"] = min(tenure, 1_200)
        text = strip_action(message.text or "")
        if has_content(text):
            event["message"] = text[:MAX_CHAT_TEXT]
        return event

    def _gift_continued(self, message: IrcMessage, line: str) -> RawEvent:
        """``giftpaidupgrade`` / ``anongiftpaidupgrade``: a viewer will pay for the sub they were gifted. A new
        paid sub, announced now like any other; the tags name no plan, so its tier is left unknown (valued as
        tier 1, the tier of nearly every gift) unless a ``msg-param-sub-plan`` says otherwise."""
        if message.tags.get("msg-param-sub-plan"):
            return self._subscription(message, line, "sub", months=1)
        event = self._transaction(message, line, "sub", SUB_PRICES_USD["1000"], None)
        del event["tier"]
        return event

    def _gift(self, message: IrcMessage, line: str, count: int, months: int) -> RawEvent:
        """``count`` subs gifted at once, each for ``months`` months (``msg-param-gift-months``)."""
        tier = _tier(message.tags)
        event = self._transaction(
            message, line, "gift", round(SUB_PRICES_USD[tier] * count * months, 2), tier
        )
        event["count"] = count
        if months > 1:
            event["months"] = min(months, 120)  # the contract's bound; Twitch sells at most 12
        return event

    def _transaction(
        self, message: IrcMessage, line: str, kind: str, amount: float, tier: str | None
    ) -> RawEvent:
        event = self._event(message, line, "transaction")
        user_id, _ = _user_id(message)
        event.update(kind=kind, user_id=user_id, amount=amount, currency="USD", tier=tier)
        return event

    def _raid(self, message: IrcMessage, line: str) -> RawEvent:
        raider = message.tags.get("msg-param-login", "").lower()
        if not raider:
            raise IrcParseError("raid without msg-param-login")
        event = self._event(message, line, "stream_meta")
        event.update(
            kind="raid", from_stream=raider, raid_viewers=_int_tag(message.tags, "msg-param-viewerCount")
        )
        return event

    def _is_mystery_part(self, tags: dict[str, str]) -> bool:
        """A ``subgift`` whose ``submysterygift`` was seen (and counted all of them). One whose mystery gift
        was not seen (the reader joined in the middle of a gift bomb) is counted on its own."""
        for key in ("msg-param-community-gift-id", "msg-param-origin-id"):
            if (value := tags.get(key)) and value in self._mystery_gifts:
                return True
        return False

    def _remember_mystery(self, tags: dict[str, str]) -> None:
        for key in ("msg-param-origin-id", "msg-param-community-gift-id"):
            if value := tags.get(key):
                self._mystery_gifts[value] = None
        while len(self._mystery_gifts) > self._memory:
            self._mystery_gifts.popitem(last=False)

    # -- moderation --------------------------------------------------------------------------------------
    def _moderation(self, message: IrcMessage) -> Moderation:
        tags, ts = message.tags, self._ts(message)
        if message.command == "CLEARMSG":
            return Moderation(
                "delete",
                self.stream_id,
                ts,
                target_login=tags.get("login") or None,
                target_message_id=tags.get("target-msg-id") or None,
            )
        target = message.text or None
        if target is None:
            return Moderation("clear", self.stream_id, ts)
        duration = _int_tag(tags, "ban-duration", default=0) or None
        return Moderation(
            "timeout" if duration else "ban",
            self.stream_id,
            ts,
            target_login=target,
            target_user_id=tags.get("target-user-id") or None,
            duration_s=duration,
        )

    # -- common fields -----------------------------------------------------------------------------------
    def _event(self, message: IrcMessage, line: str, event_type: str, suffix: str = "") -> RawEvent:
        return {
            "event_id": _event_id(message, line) + suffix,
            "stream_id": self.stream_id,
            "type": event_type,
            "ts": self._ts(message),
        }

    def _ts(self, message: IrcMessage) -> str:
        if "tmi-sent-ts" not in message.tags:
            return format_ts(self._clock())
        return format_ts(_int_tag(message.tags, "tmi-sent-ts") / 1000)


def _event_id(message: IrcMessage, line: str) -> str:
    """Twitch's message id when present; otherwise a hash of the line, so a re-read line gets the same id."""
    if twitch_id := message.tags.get("id"):
        return f"twitch:{twitch_id[:100]}"
    return "twitch:sha256:" + hashlib.sha256(line.encode()).hexdigest()[:40]


def _user_id(message: IrcMessage) -> tuple[str, str | None]:
    """The author's Twitch user id, and an anomaly when there is none.

    Without a ``user-id`` tag the login is all there is, but a login is not an id: it changes when the user
    renames, and a login made of digits could equal another user's numeric id. So such an author gets the
    distinct id ``login:NAME``: the line still counts (rate, sentiment, one chatter per login) and can never
    be mistaken for someone else.
    """
    if user_id := message.tags.get("user-id"):
        return user_id, None
    login = (message.tags.get("login") or message.nick or "").lower()
    if not login:
        raise IrcParseError(f"{message.command} without user-id or login")
    return f"login:{login}"[:64], f"{message.command}:no-user-id"


def _from_another_room(tags: dict[str, str]) -> bool:
    """Shared chat: ``source-room-id`` names the channel the line was written in, ``room-id`` the one it is
    shown in. They differ for lines that only appear here because the channels share their chat."""
    source, room = tags.get("source-room-id"), tags.get("room-id")
    return bool(source) and bool(room) and source != room


def _months_paid(tags: dict[str, str]) -> int:
    """Months a ``sub``/``resub`` notice was paid for: ``msg-param-multimonth-duration`` when the notice is
    the purchase (tenure 0), else one. A notice later in a prepaid period keeps the one month it was always
    valued at: the tags do not say reliably enough that nothing was paid for it."""
    duration = _int_tag(tags, "msg-param-multimonth-duration", default=0)
    tenure = _int_tag(tags, "msg-param-multimonth-tenure", default=0)
    return duration if duration > 1 and tenure == 0 else 1


def _hype_chat(tags: dict[str, str]) -> tuple[float, str] | None:
    """A Hype Chat's price as (amount, ISO 4217 currency): ``pinned-chat-paid-amount`` in the currency's
    minor units, ``-exponent`` its number of decimals (500, 2, USD → 5.00 USD)."""
    if not tags.get("pinned-chat-paid-amount"):
        return None
    minor = _int_tag(tags, "pinned-chat-paid-amount")
    exponent = _int_tag(tags, "pinned-chat-paid-exponent", default=0)
    currency = tags.get("pinned-chat-paid-currency", "").upper()
    if exponent > _MAX_CURRENCY_EXPONENT:
        raise IrcParseError(f"pinned-chat-paid-exponent {exponent} is not a currency's")
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise IrcParseError(f"pinned-chat-paid-currency {currency!r} is not an ISO 4217 code")
    return round(minor / 10**exponent, exponent), currency


def _tier(tags: dict[str, str]) -> str:
    plan = tags.get("msg-param-sub-plan", "")
    tier = "prime" if plan.lower() == "prime" else plan
    if tier not in SUB_PRICES_USD:
        raise IrcParseError(f"unknown msg-param-sub-plan {plan!r}")
    return tier


def _int_tag(tags: dict[str, str], key: str, default: int | None = None) -> int:
    """An integer tag; ``default`` when absent or empty (a parse error if there is none)."""
    value = tags.get(key, "")
    if not value and default is not None:
        return default
    if not (value.isascii() and value.isdigit()):
        raise IrcParseError(f"tag {key!r} must be a non-negative integer, got {value!r}")
    return int(value)
