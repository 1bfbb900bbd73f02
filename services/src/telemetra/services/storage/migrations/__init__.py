"""Versioned schema migrations: ``<dialect>/NNNN_name.sql``, applied in order, each recorded in the
``schema_migrations`` table so start-up applies exactly the ones a database has not seen."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load(dialect: str, package: str | None = None) -> list[Migration]:
    """The migrations of ``dialect`` ("sqlite" or "postgres"), by version; numbering must have no gaps.
    ``package``: another component's series (the alert outbox's), recorded in a history table of its own."""
    folder = resources.files(package or __package__).joinpath(dialect)
    migrations = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            migrations.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text("utf-8")))
    migrations.sort(key=lambda m: m.version)
    expected = list(range(1, len(migrations) + 1))
    if [m.version for m in migrations] != expected:
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n without gaps")
    return migrations


def pending(dialect: str, applied: set[int], package: str | None = None) -> list[Migration]:
    return [m for m in load(dialect, package) if m.version not in applied]
