"""The code location: everything under ``defs/`` (``partner_center_assets.definitions:defs``)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
