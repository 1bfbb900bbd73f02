"""Realistic mock traffic for many streams, on a simulated clock, deterministic for a seed.

Per stream: viewers follow a mean-reverting random walk in log space whose mean itself drifts; chat's rate
follows viewers; chatters come from a Zipf-distributed population (a few regulars write most messages); messages
mix phrases and emotes by the chat's mood; subs, gifts, bits and donations arrive at rates proportional to
viewers. Scenarios (see ``scenarios.py``) are layered on top and leave ground-truth labels.

Chat itself is one of two models (:attr:`MockConfig.chat`):

* ``bursty`` (the default), as real chat is: the rate drifts (the log of a chat level follows a mean-reverting
  process over minutes) and comes in bursts (a joke lands, a copypasta rolls through: now and then the rate
  jumps by a random factor and decays over seconds). Calibrated so that 10-second message counts at ~10 msg/s
  vary with a coefficient of variation of ~0.27 over a three-hour stream, as measured in captured real chat
  (issue 19), against ~0.13 for the Poisson model (whose only variation is the viewers' drift);
* ``poisson`` (the default until moment detection handled bursty chat, issue 19): a Poisson process at the
  viewers' rate; the same seed gives the same events as before the bursty model existed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from telemetra.producers import vocabulary as vocab
from telemetra.producers.scenarios import Scenario, ScenarioKind
from telemetra.sinks.base import RawEvent

VIEWER_SAMPLE_EVERY = 5  # seconds between viewer-count samples (Helix caches for about that long)
NON_CHAT_SHARE = 0.03  # share of the target rate that is not chat (viewer samples, money, metadata)
# Per viewer per second; scaled so a 1,000-viewer channel sees ~1.5 subs, ~1 cheer, ~0.3 gifts per minute.
SUB_RATE, CHEER_RATE, GIFT_RATE, DONATION_RATE = 2.5e-5, 1.7e-5, 5e-6, 3e-6
TIER_PRICES = {"1000": 4.99, "2000": 9.99, "3000": 24.99, "prime": 4.99}
ChatModel = Literal["bursty", "poisson"]


@dataclass(frozen=True)
class Burstiness:
    """The ``bursty`` chat model's parameters (see the module's docstring); the defaults are the calibration."""

    level_sd: float = 0.2
    """Stationary standard deviation of the log chat level (its drift)."""
    level_seconds: float = 600.0
    """How fast the level reverts to its mean (an Ornstein-Uhlenbeck process's time constant)."""
    bursts_per_minute: float = 1.2
    burst_median: float = 0.6
    """A burst's median extra rate, as a multiple of the level (log-normal, ``burst_spread`` of its log)."""
    burst_spread: float = 0.6
    burst_seconds: tuple[float, float] = (3.0, 12.0)
    """Its decay time constant, uniform in this range."""

    @property
    def mean_factor(self) -> float:
        """The long-run mean of the rate's multiplier, which :class:`ChatLevel` divides by so the mean rate
        stays the configured one."""
        mean_burst = self.burst_median * math.exp(self.burst_spread**2 / 2) * sum(self.burst_seconds) / 2
        return math.exp(self.level_sd**2 / 2) * (1 + self.bursts_per_minute / 60 * mean_burst)


class ChatLevel:
    """The ``bursty`` model's multiplier of one stream's chat rate, one simulated second at a time (drawn from a
    random stream of its own)."""

    def __init__(self, rng: random.Random, params: Burstiness):
        self.rng, self.params = rng, params
        self.log_level = rng.gauss(0, params.level_sd)
        self.bursts: list[tuple[int, float, float]] = []  # (start, extra rate, decay time constant)

    def step(self, t: int) -> float:
        p, rng = self.params, self.rng
        theta = 1 / p.level_seconds
        self.log_level += -theta * self.log_level + p.level_sd * math.sqrt(2 * theta) * rng.gauss(0, 1)
        if rng.random() < p.bursts_per_minute / 60:
            size = p.burst_median * math.exp(rng.gauss(0, p.burst_spread))
            self.bursts.append((t, size, rng.uniform(*p.burst_seconds)))
        extra = [(start, size * math.exp(-(t - start) / tau), tau) for start, size, tau in self.bursts]
        self.bursts = [(start, size, tau) for (start, now, tau), (_, size, _) in zip(extra, self.bursts, strict=True)
                       if now > 0.01]  # fmt: skip
        return math.exp(self.log_level) * (1 + sum(now for _, now, _ in extra)) / p.mean_factor


@dataclass(frozen=True)
class MockConfig:
    streams: Sequence[str]
    rate: float = 200.0  # mean events per second per stream
    duration: float = 60.0  # seconds of simulated time
    seed: int = 7
    start: float = field(default_factory=lambda: float(int(time.time())))  # epoch seconds of the first tick
    scenarios: Sequence[Scenario] = ()
    chat: ChatModel = "bursty"
    burstiness: Burstiness = field(default_factory=Burstiness)

    def __post_init__(self) -> None:
        if not self.streams:
            raise ValueError("at least one stream is required")
        if self.rate <= 0 or self.duration <= 0:
            raise ValueError("rate and duration must be positive")


def _weighted(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    names = [name for name, _ in pairs]
    return names, list(itertools.accumulate(weight for _, weight in pairs))


class _Pool:
    """A weighted choice table, sampled in O(log n)."""

    def __init__(self, pairs: Sequence[tuple[str, int]]):
        self.items, self.cum = _weighted(pairs)

    def pick(self, rng: random.Random, k: int = 1) -> list[str]:
        return rng.choices(self.items, cum_weights=self.cum, k=k)


_EMOTES = {  # neutral lines use whatever is popular, so the overall ranking matches trackers (LUL, KEKW, Kappa…)
    1: _Pool(vocab.POSITIVE_EMOTES),
    -1: _Pool(vocab.NEGATIVE_EMOTES),
    0: _Pool([*vocab.POSITIVE_EMOTES, *vocab.NEUTRAL_EMOTES, *vocab.NEGATIVE_EMOTES]),
}
_PHRASES = {1: vocab.POSITIVE_PHRASES, -1: vocab.NEGATIVE_PHRASES, 0: vocab.NEUTRAL_PHRASES}
_CURRENCIES = _Pool(vocab.DONATION_CURRENCIES)


# Zipf(1.1) over a stream's audience (ranks 0…population-1): unique chatters per minute stay well below messages
# per minute. One table of cumulative weights serves every stream (a stream's is the first ``population``
# entries: the sums are the same), so a thousand simulated streams in one process do not keep a thousand copies.
_ZIPF_CUM: list[float] = []


def _chatters(rng: random.Random, population: int, k: int) -> list[int]:
    """``rng.choices(range(population), cum_weights=<Zipf table>, k=k)``, the same draws without the copy."""
    if len(_ZIPF_CUM) < population:
        total = _ZIPF_CUM[-1] if _ZIPF_CUM else 0.0
        for rank in range(len(_ZIPF_CUM), population):
            total += 1 / (rank + 1) ** 1.1
            _ZIPF_CUM.append(total)
    draw, total, hi = rng.random, _ZIPF_CUM[population - 1] + 0.0, population - 1
    return [bisect.bisect(_ZIPF_CUM, draw() * total, 0, hi) for _ in range(k)]


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation; exactness is irrelevant at this size
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


class StreamSimulator:
    """One channel's traffic, advanced one simulated second at a time."""

    def __init__(self, stream_id: str, config: MockConfig):
        self.stream_id = stream_id
        self.rng = random.Random(f"{config.seed}/{stream_id}")
        self.scenarios = [s for s in config.scenarios if s.applies_to(stream_id)]
        self.base_viewers = min(100_000, max(300, round(self.rng.lognormvariate(math.log(3_000), 0.5))))
        self.log_viewers = self.log_mean = math.log(self.base_viewers)
        self.mood = self.mood_target = 0.3
        self.chat_per_viewer = config.rate * (1 - NON_CHAT_SHARE) / self.base_viewers
        self.followers = self.base_viewers * 25
        self.population = max(100, int(self.base_viewers * 0.8))
        self.user_salt = self.rng.randrange(10_000_000, 90_000_000)
        self.chat_level = (
            ChatLevel(random.Random(f"{config.seed}/{stream_id}/chat"), config.burstiness)
            if config.chat == "bursty"
            else None
        )

    # -- state -------------------------------------------------------------------------------------------
    @property
    def viewers(self) -> int:
        return max(0, round(math.exp(self.log_viewers)))

    def _advance_viewers(self, t: float) -> None:
        self.log_mean += self.rng.gauss(0, 0.0005)
        self.log_viewers += 0.002 * (self.log_mean - self.log_viewers) + self.rng.gauss(0, 0.006)
        for s in self.scenarios:
            if s.kind is ScenarioKind.SURGE and s.at <= t < s.at + 20:
                self._shift_viewers(math.log(s.factor) / 20)  # ramps over 20 s, then the new level holds
            elif s.kind is ScenarioKind.VIEWER_DROP and s.at <= t < s.at + 10:
                self._shift_viewers(math.log(max(0.01, 1 - s.factor)) / 10)

    def _shift_viewers(self, delta_log: float) -> None:
        self.log_viewers += delta_log
        self.log_mean += delta_log

    def _chat_multiplier(self, t: float) -> float:
        multiplier = 1.0
        for s in self.scenarios:
            if not s.active(t):
                continue
            if s.kind is ScenarioKind.HYPE:
                multiplier *= s.factor
            elif s.kind is ScenarioKind.RAMP:
                multiplier *= 1 + (s.factor - 1) * min(1.0, (t - s.at) / s.duration)
            elif s.kind is ScenarioKind.RAID and t < s.at + 30:
                multiplier *= 3.0  # raiders greet the channel
            elif s.kind is ScenarioKind.GIFT_BOMB:
                multiplier *= 1.5  # thank-yous
        return multiplier

    def _advance_mood(self, t: float) -> None:
        target = 0.3
        for s in self.scenarios:
            if s.kind is ScenarioKind.SENTIMENT_SWING and s.active(t):
                target = max(-1.0, min(1.0, s.factor))
        self.mood += (target - self.mood) * 0.3 + self.rng.gauss(0, 0.01)

    # -- events ------------------------------------------------------------------------------------------
    def _event(self, event_type: str, ts: str, /, **fields: Any) -> RawEvent:
        return {
            "event_id": f"{self.rng.getrandbits(128):032x}",
            "stream_id": self.stream_id,
            "type": event_type,
            "ts": ts,
            **fields,
        }

    def _chat(self, ts: str, user: int, hype: bool) -> RawEvent:
        rng = self.rng
        roll = rng.random()
        polarity = 1 if roll < 0.25 + 0.3 * self.mood else (-1 if roll > 0.85 + 0.3 * self.mood else 0)
        emotes: list[str] = []
        if rng.random() < (0.75 if hype else 0.4):
            emote = _EMOTES[polarity if rng.random() < 0.8 else 0].pick(rng)[0]
            emotes = [emote] * (rng.randint(2, 4) if rng.random() < (0.4 if hype else 0.12) else 1)
        words = "" if emotes and rng.random() < 0.3 else rng.choice(_PHRASES[polarity])
        text = " ".join([words, *emotes]) if words else " ".join(emotes)
        name = f"{vocab.NAME_PARTS[user % 22]}{vocab.NAME_PARTS[(user // 22) % 22]}{user}"
        return self._event(
            "chat", ts, user_id=str(self.user_salt + user), username=name, text=text, emotes=emotes
        )

    def _money(self, ts: str, t: float) -> list[RawEvent]:
        rng, viewers, events = self.rng, self.viewers, []
        user = str(self.user_salt + rng.randrange(self.population))
        for _ in range(_poisson(rng, SUB_RATE * viewers)):
            tier = rng.choices(("1000", "prime", "2000", "3000"), cum_weights=(70, 90, 97, 100))[0]
            kind = "resub" if rng.random() < 0.6 else "sub"
            events.append(self._transaction(ts, kind, user, TIER_PRICES[tier], "USD", tier=tier))
        for _ in range(_poisson(rng, CHEER_RATE * viewers)):
            bits = rng.choices((100, 200, 500, 1000, 5000), cum_weights=(55, 75, 90, 98, 100))[0]
            events.append(self._transaction(ts, "bits", user, float(bits), "BITS"))
        for _ in range(_poisson(rng, GIFT_RATE * viewers)):
            count = rng.choices((1, 5, 10), cum_weights=(80, 95, 100))[0]
            events.append(self._transaction(ts, "gift", user, 4.99 * count, "USD", tier="1000", count=count))
        for _ in range(_poisson(rng, DONATION_RATE * viewers)):
            amount = round(min(500.0, rng.lognormvariate(math.log(8), 0.9)), 2)
            events.append(self._transaction(ts, "donation", user, amount, _CURRENCIES.pick(rng)[0]))
        for s in self.scenarios:
            if s.kind is ScenarioKind.GIFT_BOMB and s.at == t:
                count = max(1, round(s.factor))
                events.append(
                    self._transaction(ts, "gift", user, 4.99 * count, "USD", tier="1000", count=count)
                )
        return events

    def _transaction(
        self, ts: str, kind: str, user: str, amount: float, currency: str, **extra: Any
    ) -> RawEvent:
        return self._event(
            "transaction", ts, kind=kind, user_id=user, amount=amount, currency=currency, **extra
        )

    def _meta(self, ts: str, t: float, last: bool) -> list[RawEvent]:
        rng, events = self.rng, []
        if t == 0:
            events.append(self._event("stream_meta", ts, kind="start", title=rng.choice(vocab.TITLES),
                                      category=rng.choice(vocab.CATEGORIES)))  # fmt: skip
        elif rng.random() < 1 / 1800:
            events.append(self._event("stream_meta", ts, kind="title", title=rng.choice(vocab.TITLES)))
        for s in self.scenarios:
            if s.kind is ScenarioKind.RAID and s.at == t:
                raiders = max(1, round(self.viewers * s.factor))
                raider = f"{rng.choice(vocab.NAME_PARTS)}{rng.choice(vocab.NAME_PARTS)}{rng.randrange(100)}"
                events.append(
                    self._event("stream_meta", ts, kind="raid", from_stream=raider, raid_viewers=raiders)
                )
                self._shift_viewers(math.log1p(raiders / max(1, self.viewers)))
        if last:
            events.append(self._event("stream_meta", ts, kind="end"))
        return events

    def tick(self, t: int, epoch: float, last: bool = False) -> list[tuple[float, RawEvent]]:
        """Events of simulated second ``[t, t+1)`` as (epoch time, event); ``epoch`` is the run start."""
        rng = self.rng
        self._advance_viewers(t)
        self._advance_mood(t)
        second = datetime.fromtimestamp(epoch + t, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        at_start = f"{second}.000Z"
        timed: list[tuple[float, RawEvent]] = [(0.0, e) for e in self._meta(at_start, t, last)]
        if t % VIEWER_SAMPLE_EVERY == 0:
            viewers = self.viewers
            self.followers += _poisson(rng, viewers * 2e-4 * VIEWER_SAMPLE_EVERY)
            timed.append((0.0, self._event("viewers", at_start, viewers=viewers,
                                           chatters=round(viewers * 0.35), followers=self.followers)))  # fmt: skip
        timed += [(0.0, e) for e in self._money(at_start, t)]
        multiplier = self._chat_multiplier(t)
        level = self.chat_level.step(t) if self.chat_level is not None else 1.0
        count = _poisson(rng, self.chat_per_viewer * self.viewers * multiplier * level)
        if count:
            users = _chatters(rng, self.population, count)
            millis = sorted(rng.randrange(1000) for _ in range(count))
            hype = multiplier > 2
            timed += [
                (ms / 1000, self._chat(f"{second}.{ms:03d}Z", u, hype))
                for ms, u in zip(millis, users, strict=True)
            ]
        timed.sort(key=lambda pair: pair[0])
        return [(epoch + t + offset, event) for offset, event in timed]


def generate_batches(config: MockConfig) -> Iterator[tuple[float, list[RawEvent]]]:
    """Yield ``(simulated second, events)`` for each second of the run, all streams merged in time order."""
    simulators = [StreamSimulator(stream, config) for stream in config.streams]
    seconds = max(1, math.ceil(config.duration))
    for t in range(seconds):
        last = t == seconds - 1
        timed = [pair for sim in simulators for pair in sim.tick(t, config.start, last)]
        timed.sort(key=lambda pair: pair[0])
        yield config.start + t, [event for _, event in timed]


def labels(config: MockConfig) -> list[dict[str, Any]]:
    """Ground-truth labels for every scenario episode of the run."""
    return [
        scenario.label(stream, config.start)
        for scenario in sorted(config.scenarios, key=lambda s: (s.at, s.kind))
        for stream in config.streams
        if scenario.applies_to(stream)
    ]
