"""Where the pipeline's intermediate assets live between steps.

Raw pages go to a JSON-lines file as they arrive, and the normalized and resolved referrals to
Parquet, so that no step holds every page in memory several times over and any asset can be
re-materialized alone from its upstream's last materialization. Files are replaced atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from partner_center_assets.settings import home_dir


@dataclass
class FetchSummary:
    """What the fetch step tells the write step about the run."""

    full_refresh: bool = False
    cutoff: str | None = None
    watermark_before: str | None = None
    pages: int = 0
    records: int = 0
    requests: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    max_pages_reached: bool = False
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_at: str | None = None


class SyncFiles:
    """The files of the latest materialization of each intermediate asset."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory else home_dir() / "partner_center"

    @property
    def raw_pages(self) -> Path:
        return self.directory / "raw_referral_pages.jsonl"

    @property
    def fetch_summary(self) -> Path:
        return self.directory / "raw_referral_pages.summary.json"

    @property
    def normalized(self) -> Path:
        return self.directory / "normalized_referrals.parquet"

    @property
    def resolved(self) -> Path:
        return self.directory / "resolved_referrals.parquet"

    @contextmanager
    def writing(self, path: Path) -> Iterator[Path]:
        """Yield a temporary path that replaces ``path`` only if the block succeeds."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".partial")
        try:
            yield temporary
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @contextmanager
    def page_writer(self) -> Iterator[TextIO]:
        with self.writing(self.raw_pages) as temporary, temporary.open("w", encoding="utf-8") as handle:
            yield handle

    def read_pages(self) -> Iterator[dict[str, Any]]:
        """Yield the stored pages one at a time, in fetch order."""
        self._require(self.raw_pages, "raw_referral_pages")
        with self.raw_pages.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def write_summary(self, summary: FetchSummary) -> None:
        with self.writing(self.fetch_summary) as temporary:
            temporary.write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")

    def read_summary(self) -> FetchSummary:
        self._require(self.fetch_summary, "raw_referral_pages")
        return FetchSummary(**json.loads(self.fetch_summary.read_text(encoding="utf-8")))

    def write_frame(self, path: Path, frame: pd.DataFrame) -> None:
        with self.writing(path) as temporary:
            frame.to_parquet(temporary, index=False)

    def read_frame(self, path: Path, asset: str) -> pd.DataFrame:
        self._require(path, asset)
        return pd.read_parquet(path)

    @staticmethod
    def _require(path: Path, asset: str) -> None:
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing: materialize the upstream asset {asset!r} first "
                "(or run the whole partner_center_daily_sync job)"
            )
