"""ARCHITECTURE.md's recipes name exactly the files a change touches: every path
they name exists (for the recipe's example name, the file of an existing
problem, method or kernel stands in)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
# The recipes' example names, and an existing name that has the same files.
EXAMPLES = {"knapsack": "tsp", "great_deluge": "tabu", "paged": "decode"}
PATH = re.compile(r"`([A-Za-z0-9_./-]+\.(?:py|pyx|pxd|pyi|pxi|tp|h|rst|md|toml))`")
ROOTS = ("", "src/attnsearch", "src")


def _recipes():
    """(title, text) of each recipe: the bold heading to the end of its list."""
    if not ARCHITECTURE.is_file():
        return []
    lines = ARCHITECTURE.read_text(encoding="utf-8").splitlines()
    recipes = []
    for index, line in enumerate(lines):
        if not line.startswith("**Recipe:"):
            continue
        body = [line]
        for following in lines[index + 1 :]:
            if following.startswith(("#", "**Recipe:")) or (
                following
                and not following.startswith(
                    (" ", "1", "2", "3", "4", "5", "6", "7", "8", "9")
                )
                and not body[-1].endswith(":")
            ):
                break
            body.append(following)
        recipes.append((line, "\n".join(body)))
    return recipes


def _stand_in(path):
    for example, existing in EXAMPLES.items():
        path = path.replace(example, existing)
    return path


def test_there_are_three_recipes():
    titles = [title for title, _ in _recipes()]
    assert len(titles) == 3, titles
    joined = " ".join(titles).lower()
    assert "problem" in joined and "method" in joined and "attention kernel" in joined


@pytest.mark.parametrize("title, text", _recipes(), ids=lambda v: v[:40])
def test_every_file_a_recipe_names_exists(title, text):
    paths = PATH.findall(text)
    assert paths, f"{title} names no file"
    missing = [
        path
        for path in paths
        if not any((ROOT / base / _stand_in(path)).exists() for base in ROOTS)
    ]
    assert not missing, f"{title} names files that do not exist: {missing}"
