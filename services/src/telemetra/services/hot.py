"""The cross-channel view, "hot right now": live streams ranked by hype (pure: no I/O).

A stream's hype is how far its chat is above its own normal plus what it did lately:

    hype = chat_ratio + moments + log2(1 + best_rank)

``chat_ratio`` is the chat rate of its newest closed window over its mean chat rate in the baseline period
before the recent minutes (1 is normal; 0 without a baseline), ``moments`` how many moments were under way in
the recent minutes and ``best_rank`` the highest rank among them (0 without). A stream chatting at 3× its normal
with one big chat spike scores about 3 + 1 + 4; a quiet stream about 1.
"""

from __future__ import annotations

import math
from typing import Any, Final

from telemetra.services.storage import HypeInputs

BASELINE_SECONDS: Final = 3600  # the chat rate a stream is compared with: its mean over the hour before
RATE_FLOOR: Final = 0.1  # msg/s: a near-silent baseline does not turn one message into a huge ratio


def chat_ratio(inputs: HypeInputs) -> float | None:
    """The newest chat rate against the stream's own baseline; None without either."""
    if inputs.chat_rate is None or inputs.baseline_chat_rate is None:
        return None
    return inputs.chat_rate / max(inputs.baseline_chat_rate, RATE_FLOOR)


def hype(inputs: HypeInputs) -> float:
    ratio = chat_ratio(inputs) or 0.0
    return ratio + inputs.moments + math.log2(1 + max(inputs.best_rank or 0.0, 0.0))


def item(inputs: HypeInputs) -> dict[str, Any]:
    """A stream of the view, as the API answers it (``last_activity`` as epoch seconds: the caller formats)."""
    ratio = chat_ratio(inputs)
    return {
        "stream_id": inputs.stream_id,
        "title": inputs.title,
        "category": inputs.category,
        "viewers": inputs.viewers,
        "chat_rate": inputs.chat_rate,
        "baseline_chat_rate": None
        if inputs.baseline_chat_rate is None
        else round(inputs.baseline_chat_rate, 3),
        "chat_ratio": None if ratio is None else round(ratio, 3),
        "moments": inputs.moments,
        "best_rank": inputs.best_rank,
        "hype": round(hype(inputs), 3),
    }
