"""What mock chat is made of: phrases and emotes by mood, with realistic emote popularity.

Weights follow the shape of public emote-usage trackers (a few global emotes dominate, a long tail follows).
"""

from __future__ import annotations

# (emote, relative frequency)
POSITIVE_EMOTES = [
    ("LUL", 30), ("KEKW", 28), ("PogChamp", 20), ("Pog", 18), ("OMEGALUL", 14), ("catJAM", 10),
    ("PogU", 8), ("EZ", 6), ("LULW", 6), ("peepoHappy", 5), ("Kreygasm", 4), ("SeemsGood", 4),
    ("<3", 4), ("HeyGuys", 3), ("PartyParrot", 2),
]  # fmt: skip
NEGATIVE_EMOTES = [
    ("Sadge", 20), ("PepeHands", 14), ("NotLikeThis", 10), ("ResidentSleeper", 10), ("monkaS", 10),
    ("BibleThump", 8), ("FailFish", 6), ("WutFace", 5), ("DansGame", 5), ("PJSalt", 4),
]  # fmt: skip
NEUTRAL_EMOTES = [
    ("Kappa", 25),
    ("4Head", 6),
    ("Jebaited", 5),
    ("monkaHmm", 5),
    ("TriHard", 3),
    ("CoolCat", 2),
]

POSITIVE_PHRASES = [
    "that was awesome", "let's gooo", "so good", "insane play", "W streamer", "love this song", "GG",
    "great stream today", "that was sick", "clean", "hahaha", "best stream ever", "nice one", "huge",
    "wow amazing", "this is so fun", "gg well played", "so clutch", "beautiful", "lmao",
    "you're the best", "what a comeback", "incredible", "W", "happy to be here", "love you",
]  # fmt: skip
NEGATIVE_PHRASES = [
    "this is boring", "so bad", "terrible", "L", "lag again", "I hate this boss", "that's sad",
    "not good", "worst run", "ugh", "awful", "unlucky", "stream is lagging", "so annoying",
    "this sucks", "rip", "that hurts", "no way that's terrible", "bad call", "what a waste",
    "I'm so tired of this", "disappointing", "bruh this is painful",
]  # fmt: skip
NEUTRAL_PHRASES = [
    "what game is this", "chat", "first time here", "what level is he", "is this ranked", "hello",
    "which settings", "where is the map", "who is that", "when is the next stream", "what rank",
    "how long has he been live", "ok", "back", "did he fix the mic", "what's the song", "any plans",
    "hi chat", "lurking", "what time is it there", "is he using a controller", "same", "true",
]  # fmt: skip

NAME_PARTS = [
    "pixel", "shadow", "frost", "lucky", "night", "turbo", "sleepy", "cosmic", "salty", "happy", "ninja",
    "potato", "wolf", "tiger", "panda", "gamer", "noob", "pro", "lazy", "crazy", "silent", "mega",
]  # fmt: skip

TITLES = [
    "ranked grind to top 500", "chill sunday stream", "first playthrough!", "speedrun attempts",
    "subathon day 3", "viewer games", "new patch first look",
]  # fmt: skip
CATEGORIES = ["Just Chatting", "Elden Ring", "Minecraft", "League of Legends", "Valorant", "Music", "Chess"]
DONATION_CURRENCIES = [("USD", 70), ("EUR", 15), ("GBP", 6), ("CAD", 5), ("BRL", 2), ("JPY", 2)]
