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
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from telemetra.contract import MAX_CHAT_TEXT, format_ts
from telemetra.sinks.base import RawEvent

# List prices in USD; Prime is valued like a tier-1 sub.
SUB_PRICES_USD = {"1000": 4.99, "2000": 9.99, "3000": 24.99, "prime": 4.99}
_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ACTION_PREFIX = "\x01ACTION "
_MSG_ID_ALIASES = {"anonsubgift": "subgift", "anonsubmysterygift": "submysterygift"}
_CHANNEL_COMMANDS = frozenset({"PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG"})
_MAX_EMOTE_NAME = 64
_MAX_BADGES = 32


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


class Control(StrEnum):
    PONG = "pong"  # send ``Parsed.reply`` back
    RECONNECT = "reconnect"  # the server is going away: reconnect


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

    Positions are code-point indices into ``text``; a range that does not fit the text is skipped rather
    than failing the whole message.
    """
    spans: list[tuple[int, str]] = []
    for group in tag.split("/"):
        _, _, ranges = group.partition(":")
        for span in ranges.split(","):
            start_text, _, end_text = span.partition("-")
            if not (start_text.isdigit() and end_text.isdigit()):
                continue
            start, end = int(start_text), int(end_text)
            if start <= end < len(text) and end - start < _MAX_EMOTE_NAME:
                spans.append((start, text[start : end + 1]))
    return [name for _, name in sorted(spans)]


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
        message = parse_line(line)
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
        if command == "NOTICE":
            return Parsed(command, ignored=command, notice=message.trailing or "")
        if command not in _CHANNEL_COMMANDS:
            return Parsed(command, ignored=command)
        if message.channel != self.stream_id:
            return Parsed(command, ignored=f"{command}:other-channel")
        if command == "PRIVMSG":
            return self._privmsg(message, line)
        if command == "USERNOTICE":
            return self._usernotice(message, line)
        return Parsed(command, moderation=self._moderation(message))

    # -- chat --------------------------------------------------------------------------------------------
    def _privmsg(self, message: IrcMessage, line: str) -> Parsed:
        tags = message.tags
        text = message.trailing or ""
        if text.startswith(_ACTION_PREFIX):  # /me: emote positions are relative to the unwrapped text
            text = text[len(_ACTION_PREFIX) :].removesuffix("\x01")
        if not text.strip():
            return Parsed(message.command, ignored="PRIVMSG:empty")
        login = message.nick or tags.get("login") or ""
        user_id = tags.get("user-id") or login
        username = tags.get("display-name", "").strip() or login
        if not user_id or not username:
            raise IrcParseError("PRIVMSG without a user")
        chat = self._event(message, line, "chat")
        chat.update(user_id=user_id, username=username[:64], text=text[:MAX_CHAT_TEXT])
        if "emotes" in tags:
            chat["emotes"] = parse_emotes(tags["emotes"], text)
        chat["badges"] = parse_badges(tags.get("badges", ""))
        chat["bits"] = bits = _int_tag(tags, "bits", default=0)
        if bits <= 0 or not self._bits_transactions:
            return Parsed(message.command, events=(chat,))
        cheer = self._event(message, line, "transaction", suffix=":bits")
        cheer.update(kind="bits", user_id=user_id, amount=float(bits), currency="BITS", message=chat["text"])
        return Parsed(message.command, events=(chat, cheer))

    # -- USERNOTICE: subs, gifts, raids --------------------------------------------------------------------
    def _usernotice(self, message: IrcMessage, line: str) -> Parsed:
        msg_id = message.tags.get("msg-id", "")
        msg_id = _MSG_ID_ALIASES.get(msg_id, msg_id)
        if msg_id in ("sub", "resub"):
            event = self._subscription(message, line, msg_id)
        elif msg_id == "subgift":
            if self._is_mystery_part(message.tags):
                return Parsed(message.command, ignored="USERNOTICE:subgift-in-mystery-gift")
            event = self._gift(message, line, count=1)
        elif msg_id == "submysterygift":
            self._remember_mystery(message.tags)
            event = self._gift(message, line, count=_int_tag(message.tags, "msg-param-mass-gift-count"))
        elif msg_id == "raid":
            event = self._raid(message, line)
        else:
            return Parsed(message.command, ignored=f"USERNOTICE:{msg_id or '?'}")
        return Parsed(message.command, events=(event,))

    def _subscription(self, message: IrcMessage, line: str, kind: str) -> RawEvent:
        tier = _tier(message.tags)
        event = self._transaction(message, line, kind, SUB_PRICES_USD[tier], tier)
        if message.trailing:
            event["message"] = message.trailing[:MAX_CHAT_TEXT]
        return event

    def _gift(self, message: IrcMessage, line: str, count: int) -> RawEvent:
        tier = _tier(message.tags)
        event = self._transaction(message, line, "gift", round(SUB_PRICES_USD[tier] * count, 2), tier)
        event["count"] = count
        return event

    def _transaction(self, message: IrcMessage, line: str, kind: str, amount: float, tier: str) -> RawEvent:
        event = self._event(message, line, "transaction")
        user_id = message.tags.get("user-id") or message.tags.get("login")
        if not user_id:
            raise IrcParseError(f"USERNOTICE {kind} without user-id")
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
        if tags.get("msg-param-community-gift-id"):
            return True
        origin = tags.get("msg-param-origin-id")
        return bool(origin) and origin in self._mystery_gifts

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
        target = message.trailing or None
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


def _tier(tags: dict[str, str]) -> str:
    plan = tags.get("msg-param-sub-plan", "")
    tier = "prime" if plan.lower() == "prime" else plan
    if tier not in SUB_PRICES_USD:
        raise IrcParseError(f"unknown msg-param-sub-plan {plan!r}")
    return tier


def _int_tag(tags: dict[str, str], key: str, default: int | None = None) -> int:
    value = tags.get(key, "")
    if not value and default is not None:
        return default
    if not (value.isascii() and value.isdigit()):
        raise IrcParseError(f"tag {key!r} must be a non-negative integer, got {value!r}")
    return int(value)
