"""Build the chat corpus of the sentiment evaluation from three permissively licensed (MIT) public repositories.

Reads the source files straight from git clones at pinned commits (``git show COMMIT:PATH``), so the output
is reproducible byte for byte. Writes ``corpus.tsv``: one distinct chat line per row with its source id and
its split:

  eval     the lines sampled for the hand-labelled evaluation set (``eval.tsv`` holds them with labels);
  check    a second labelled sample (``check.tsv``), drawn after the eval lines, to validate rules that were
           designed while reading the scorer's errors on the eval set;
  lexicon  every other line: the material ``derive_lexicon.py`` may learn from;
  dup      near-copies of labelled lines (used nowhere).

A line is assigned to a split by its *key* (the text case-folded, whitespace collapsed), so case variants of
one line ("LUL" / "lul") never straddle the split. Bots and moderator-bot notices are dropped; @mentions are
replaced by "@user" (no user names are kept); Twitch's invisible "duplicate message" tag character (U+E0000)
is removed. Sampling: per source, the distinct keys are sorted, shuffled with ``random.Random(SEED)`` and the
first N go to the eval split (quotas below).

    python bench/sentiment_eval/prepare_corpus.py \
        --nlss /path/to/Data-Science-for-Linguists/NLSS_Project \
        --sgdq /path/to/dekuNukem/Twitch_Chatlogs \
        --chatterino /path/to/Chatterino/chatterino2
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
from pathlib import Path

SEED = 17
HERE = Path(__file__).resolve().parent

NLSS_COMMIT = "4796031dea1764db3b0ec3a03ff61987a0cf65f4"
NLSS_FILES = [
    "PublicData/Twitch_Chat/rechat-84065913.json",
    "PublicData/Twitch_Chat/rechat-98355852.json",
    "PublicData/Twitch_Chat/rechat-103227724.json",
    "PublicData/Twitch_Chat/rechat-115328018.json",
    "PublicData/Twitch_Chat/rechat-146498725.json",
    "PublicData/Twitch_Chat/rechat-158202424.json",
]
SGDQ_COMMIT = "c6480ffed74a0ce4da46c90848f583232d511a76"
SGDQ_FILE = "SGDQ2017/pasta/pasta_text_gamesdonequick.txt"
CHATTERINO_COMMIT = "baa5119298ff2c56e749a0c69dd879e983371b71"
CHATTERINO_FILE = "benchmarks/resources/recentmessages-nymn.json"
# Emote names (lexicon material only; never labels): Twitch global and BetterTTV names as of 2017 (SGDQ 2017
# folder, and NLSS's copy of the twitchemotes.com global list), the 7TV emote set of one channel (2024), and
# 133,877 Twitch subscriber-emote names (2017), of which only the suffix counts are kept (see below).
EMOTE_LISTS = {
    "twitch-global-2017": ("sgdq", "SGDQ2017/global_emotes.txt"),
    "bttv-2017": ("sgdq", "SGDQ2017/bttv_emotes.txt"),
    "twitch-global-2016": ("nlss", "PublicData/globalemotes.json"),
    "7tv-nymn-2024": ("chatterino", "benchmarks/resources/seventvemotes-nymn.json"),
}
SUB_EMOTES = "SGDQ2017/sub_emotes.txt"
_SUB_EMOTE = re.compile(r"^[a-z][a-z0-9]{1,14}(?P<suffix>[A-Z][A-Za-z0-9]*|[0-9]+)$")

# Lines per source in the eval split, then in the check split (a second labelled set, drawn after the eval
# lines from the same shuffled order, to validate rules designed while reading the eval errors); the rest of
# each source goes to the lexicon split.
QUOTAS = {"nlss": 900, "nymn": 150, "sgdq": 150}
CHECK_QUOTAS = {"nlss": 230, "nymn": 40, "sgdq": 35}

_MENTION = re.compile(r"@\w+")
_PRIVMSG = re.compile(r" :(?P<user>[^!\s]+)![^ ]+ PRIVMSG #\w+ :?(?P<text>.*)$")


def _git_show(repo: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _is_bot(user: str) -> bool:
    return user.endswith("bot") or user in {"nightbot", "moobot", "streamelements", "streamlabs", "fossabot"}


def clean(text: str) -> str:
    text = text.replace("\U000e0000", "").replace("\x01ACTION", "").replace("\x01", "")
    text = _MENTION.sub("@user", text)
    return " ".join(text.split())


def key(text: str) -> str:
    return text.casefold()


def near_key(text: str) -> tuple[str, ...]:
    """Distinct case-folded tokens in order: "forsenParty EDM" repeated 4 or 15 times is one line."""
    return tuple(dict.fromkeys(text.casefold().split()))


def nlss_lines(repo: Path) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in NLSS_FILES:
        video = path.rsplit("-", 1)[1].removesuffix(".json")
        items = json.loads(_git_show(repo, NLSS_COMMIT, path))
        for i, item in enumerate(items[1:]):  # items[0] is the video's metadata
            if not isinstance(item, dict) or "message" not in item:
                continue
            if _is_bot(item["commenter"]["name"]):
                continue
            out.append((f"nlss:{video}:{i}", item["message"]["body"]))
    return out


def sgdq_lines(repo: Path) -> list[tuple[str, str]]:
    text = _git_show(repo, SGDQ_COMMIT, SGDQ_FILE)
    return [(f"sgdq2017:{i}", line) for i, line in enumerate(text.splitlines()) if line.strip()]


def nymn_lines(repo: Path) -> list[tuple[str, str]]:
    raw = json.loads(_git_show(repo, CHATTERINO_COMMIT, CHATTERINO_FILE))["messages"]
    out: list[tuple[str, str]] = []
    for i, line in enumerate(raw):
        match = _PRIVMSG.search(line)
        if match is None or _is_bot(match["user"]):
            continue
        text = match["text"]
        if text.startswith("\x01ACTION") and ("youtube" in text.lower() or "twitter.com" in text.lower()):
            continue  # the channel's reminder bot posting as the broadcaster
        out.append((f"nymn:{i}", text))
    return out


def emote_names(repos: dict[str, Path]) -> list[tuple[str, str]]:
    """(name, list) pairs from the emote lists, in list order, first list wins for a repeated name."""
    commits = {"sgdq": SGDQ_COMMIT, "nlss": NLSS_COMMIT, "chatterino": CHATTERINO_COMMIT}
    out: dict[str, str] = {}
    for list_name, (repo, path) in EMOTE_LISTS.items():
        text = _git_show(repos[repo], commits[repo], path)
        if path.endswith("globalemotes.json"):
            names = list(json.loads(text))
        elif path.endswith(".json"):
            names = [e["name"] for e in json.loads(text)["emote_set"]["emotes"]]
        else:
            names = [line.strip() for line in text.splitlines() if line.strip()]
        for name in names:
            out.setdefault(name, list_name)
    return list(out.items())


def sub_emote_suffixes(repo: Path) -> list[tuple[str, int]]:
    """Suffixes of subscriber emotes ("albisSad" -> "Sad") with how many channels use each (5 or more)."""
    counts: dict[str, int] = {}
    for line in _git_show(repo, SGDQ_COMMIT, SUB_EMOTES).splitlines():
        match = _SUB_EMOTE.match(line.strip())
        if match:
            counts[match["suffix"]] = counts.get(match["suffix"], 0) + 1
    return sorted(((s, n) for s, n in counts.items() if n >= 5), key=lambda x: (-x[1], x[0]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nlss", type=Path, required=True, help="git clone of Data-Science-for-Linguists/NLSS_Project"
    )
    parser.add_argument("--sgdq", type=Path, required=True, help="git clone of dekuNukem/Twitch_Chatlogs")
    parser.add_argument("--chatterino", type=Path, required=True, help="git clone of Chatterino/chatterino2")
    parser.add_argument("--out", type=Path, default=HERE / "corpus.tsv")
    args = parser.parse_args()

    sources = {
        "nlss": nlss_lines(args.nlss),
        "sgdq": sgdq_lines(args.sgdq),
        "nymn": nymn_lines(args.chatterino),
    }
    rows: list[tuple[str, str, str, int]] = []  # text, source id, split, occurrences in the source
    seen: set[str] = set()
    for name, lines in sources.items():
        first: dict[str, tuple[str, str]] = {}
        counts: dict[str, int] = {}
        for source_id, text in lines:
            text = clean(text)
            if not text:
                continue
            k = key(text)
            counts[k] = counts.get(k, 0) + 1
            if k not in first and k not in seen:
                first[k] = (text, source_id)
        keys = sorted(first)
        random.Random(SEED).shuffle(keys)
        quota, check = QUOTAS[name], QUOTAS[name] + CHECK_QUOTAS[name]
        for n, k in enumerate(keys):
            text, source_id = first[k]
            split = "eval" if n < quota else "check" if n < check else "lexicon"
            rows.append((text, source_id, split, counts[k]))
        seen.update(first)
        print(f"{name}: {len(lines)} lines, {len(keys)} distinct, {min(quota, len(keys))} to eval")
    # Near-duplicates (the same tokens repeated a different number of times) count once: a later copy inside
    # the eval split, a check line that is a near-copy of an eval or earlier check line, and any lexicon line
    # that is a near-copy of a labelled line are marked "dup" and unused.
    labelled_near: set[tuple[str, ...]] = set()
    for labelled in ("eval", "check"):
        for i, (text, source_id, split, count) in enumerate(rows):
            if split == labelled:
                near = near_key(text)
                if near in labelled_near:
                    rows[i] = (text, source_id, "dup", count)
                labelled_near.add(near)
    for i, (text, source_id, split, count) in enumerate(rows):
        if split == "lexicon" and near_key(text) in labelled_near:
            rows[i] = (text, source_id, "dup", count)
    for split in ("eval", "check", "lexicon", "dup"):
        print(f"{split}: {sum(1 for row in rows if row[2] == split)} lines")
    with args.out.open("w", encoding="utf-8") as fh:
        fh.write("text\tsource_id\tsplit\tcount\n")
        for text, source_id, split, count in rows:
            fh.write(f"{text.replace(chr(9), ' ')}\t{source_id}\t{split}\t{count}\n")
    print(f"wrote {len(rows)} lines to {args.out}")

    repos = {"nlss": args.nlss, "sgdq": args.sgdq, "chatterino": args.chatterino}
    names = emote_names(repos)
    with (args.out.parent / "emote_names.tsv").open("w", encoding="utf-8") as fh:
        fh.write("name\tlist\n")
        for name, list_name in names:
            fh.write(f"{name}\t{list_name}\n")
    suffixes = sub_emote_suffixes(args.sgdq)
    with (args.out.parent / "sub_emote_suffixes.tsv").open("w", encoding="utf-8") as fh:
        fh.write("suffix\tchannels\n")
        for suffix, n in suffixes:
            fh.write(f"{suffix}\t{n}\n")
    print(f"wrote {len(names)} emote names and {len(suffixes)} sub-emote suffixes")


if __name__ == "__main__":
    main()
