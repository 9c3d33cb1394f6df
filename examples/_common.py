"""Helpers shared by the examples: small sizes for CI, and where the data lives."""

import os
from pathlib import Path

from attnsearch import data

#: Set ATTNSEARCH_EXAMPLES_SMALL=1 (CI does) for quick runs of every example.
SMALL = os.environ.get("ATTNSEARCH_EXAMPLES_SMALL", "") not in ("", "0")

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parent.parent / "shared" / "data"


def data_file(*parts):
    """A data file from the developers' data folder (../shared/data beside the
    checkout: the full TSPLIB and G-set collections) when present, else the
    small copy shipped with the package (attnsearch.data)."""
    shared = SHARED_DATA.joinpath(*parts)
    return shared if shared.is_file() else data.path(parts[-1])


def save_figure(figure, name):
    """Save a matplotlib figure into the current directory and say where."""
    figure.savefig(name, dpi=100)
    print(f"picture written to {Path(name).resolve()}")
