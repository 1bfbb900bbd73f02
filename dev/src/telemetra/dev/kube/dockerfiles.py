"""What a Dockerfile build reads, and the content tag that names its result.

:func:`input_tag` hashes the Dockerfile, its bases' tags, its build arguments and every file its COPY/ADD
instructions send from the context (after ``.containerignore``/``.dockerignore``, with Docker's matching rules):
the same inputs give the same tag, and any change to them a new one, so an image whose tag exists needs no build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from telemetra.dev.kube.podman import ImageError

TAG_LENGTH = 12


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def base_references(text: str) -> list[str]:
    """The external images a Dockerfile's stages start from (not its own stages nor ``${ARG}`` bases),
    normalised to full references (``python:3.11`` -> ``docker.io/library/python:3.11``)."""
    stages: set[str] = set()
    bases = []
    for keyword, arguments in dockerfile_instructions(text):
        if keyword != "FROM":
            continue
        words = [word for word in arguments.split() if not word.startswith("--")]
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        image = words[0]
        if image.lower() not in stages and "$" not in image and image not in bases:
            bases.append(image)
    return [normalized_reference(image) for image in bases]


def normalized_reference(image: str) -> str:
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


def copied_sources(text: str) -> list[str]:
    """The context paths a Dockerfile's COPY/ADD instructions read (not those copying from a stage)."""
    sources = []
    for keyword, arguments in dockerfile_instructions(text):
        if keyword not in ("COPY", "ADD"):
            continue
        words: list[str] = json.loads(arguments) if arguments.startswith("[") else arguments.split()
        if any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    negated: bool


def ignore_rules(context: Path) -> list[IgnoreRule]:
    """The context's ``.containerignore`` or ``.dockerignore``, as matchers."""
    for name in (".containerignore", ".dockerignore"):
        path = context / name
        if path.is_file():
            lines = [line.strip() for line in path.read_text().splitlines()]
            return [_ignore_rule(line) for line in lines if line and not line.startswith("#")]
    return []


def _ignore_rule(line: str) -> IgnoreRule:
    negated = line.startswith("!")
    pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
    regex = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return IgnoreRule(re.compile(regex), negated)


def is_ignored(relative: str, rules: Sequence[IgnoreRule]) -> bool:
    """Docker's rule: a path is excluded when the last rule matching it, or one of its parents, excludes."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            ignored = not rule.negated
    return ignored


def context_files(context: Path, sources: Sequence[str]) -> list[str]:
    """The files (relative to ``context``) that COPY/ADD of ``sources`` send into the build, sorted."""
    rules = ignore_rules(context)
    prune = not any(
        rule.negated for rule in rules
    )  # without exceptions an ignored directory is skipped whole
    files: set[str] = set()
    for source in sources:
        matches = (
            sorted(context.glob(source.strip("/"))) if any(c in source for c in "*?[") else [context / source]
        )
        for match in matches:
            if not match.exists():
                raise ImageError(f"COPY {source}: {match} does not exist")
            files.update(_walk(context, match, rules, prune))
    return sorted(files)


def _walk(context: Path, top: Path, rules: Sequence[IgnoreRule], prune: bool) -> Iterator[str]:
    relative = top.relative_to(context).as_posix()
    if top.is_file() or top.is_symlink():
        if not is_ignored(relative, rules):
            yield relative
        return
    if prune and relative != "." and is_ignored(relative, rules):
        return
    for child in sorted(top.iterdir()):
        yield from _walk(context, child, rules, prune)


def input_tag(dockerfile: Path, context: Path, bases: Sequence[str], build_args: Mapping[str, str]) -> str:
    """The content tag of a build: a hash of the Dockerfile, its bases' tags, the build arguments and every
    file it copies (path, executable bit, bytes). The same inputs always give the same tag."""
    text = dockerfile.read_text()
    digest = hashlib.sha256()

    def feed(*parts: str | bytes) -> None:
        for part in parts:
            digest.update(part.encode() if isinstance(part, str) else part)
            digest.update(b"\0")

    feed("dockerfile", text)
    for base in bases:
        feed("base", base)
    for name, value in sorted(build_args.items()):
        feed("arg", name, value)
    for relative in context_files(context, copied_sources(text)):
        path = context / relative
        if path.is_symlink():
            feed("link", relative, os.readlink(path))
        else:
            feed("file", relative, str(os.access(path, os.X_OK)), hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:TAG_LENGTH]
