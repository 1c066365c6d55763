"""The ``partner-center`` command's entry point: the CLI's modules load before the collector runs.

The commands live in :mod:`partner_center_assets.cli`; this module only loads them inside
:func:`~partner_center_assets.heap.loading_without_collection`, which must start before the first
heavy import.
"""

from partner_center_assets.heap import loading_without_collection


def main() -> None:
    with loading_without_collection():
        from partner_center_assets.cli import main as cli
    cli()
