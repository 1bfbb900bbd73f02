"""Analytics core: pure functions for windowing, chat sentiment, emotes and moment detection (no I/O)."""
