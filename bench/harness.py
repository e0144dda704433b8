"""What the benchmarks share: a scratch database of their own, and figures reported with their spread.

This machine is shared and its speed drifts within a run, so one number is never reported alone: a
median comes with the min–max of the rounds it summarises, and a ratio is taken per round against a
baseline measured next to that round (never against a baseline measured once, before everything).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]


def migrate_url(pg: str, database: str) -> str:
    return f"postgresql+psycopg://postgres@{pg}/{database}"


def recreate_database(pg: str, database: str) -> None:
    """Drop and create `database` (never one the benchmarks did not name for themselves), then migrate it."""
    from alembic import command
    from alembic.config import Config

    drop_database(pg, database)
    with psycopg.connect(f"postgresql://postgres@{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["url"] = migrate_url(pg, database)
    command.upgrade(config, "head")


def drop_database(pg: str, database: str) -> None:
    if not database.startswith("linli_bench"):
        raise SystemExit(f"refusing to drop {database!r}: bench databases are named linli_bench*")
    with psycopg.connect(f"postgresql://postgres@{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database}" with (force)')


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank above q (the definition the dispatch figures have always used)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@dataclass(frozen=True)
class Spread:
    """A reported figure and the interval that says how far to trust it."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Median and min–max of per-round figures."""
        return cls(statistics.median(values), min(values), max(values))

    @classmethod
    def bootstrap(
        cls, samples: Sequence[float], statistic: Callable[[Sequence[float]], float], resamples: int = 2000
    ) -> Spread:
        """`statistic` of the samples with its 95 % percentile-bootstrap interval (seeded: the interval
        of the same samples does not move between reports)."""
        rng = random.Random(0)
        estimates = sorted(statistic(rng.choices(samples, k=len(samples))) for _ in range(resamples))
        return cls(statistic(samples), estimates[int(resamples * 0.025)], estimates[int(resamples * 0.975) - 1])

    @property
    def half_width_pct(self) -> float:
        """Half the interval as a share of the value: a change larger than this stands out of the noise."""
        return 50 * (self.high - self.low) / self.value if self.value else 0.0

    def text(self, fmt: str, unit: str) -> str:
        return f"{self.value:{fmt}} {unit} ({self.low:{fmt}}–{self.high:{fmt}}, ±{self.half_width_pct:.0f} %)"

    def fields(self, name: str, fmt: str, interval: str = "range") -> str:
        """`name=value name_range=low-high`, for RESULT lines."""
        return f"{name}={self.value:{fmt}} {name}_{interval}={self.low:{fmt}}-{self.high:{fmt}}"
