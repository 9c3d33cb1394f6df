"""Docstring examples run (doctest), so the documentation cannot drift from the code."""

import doctest
import importlib
import pkgutil

import pytest

import attnsearch

# Modules that need an optional extra: their examples run when it is installed.
_NEEDS = {
    "attnsearch.search.dimod": "dimod",
    "attnsearch.search.dask": "distributed",
    "attnsearch.attention.dask": "dask",
    "attnsearch.plot": "matplotlib",
}


def _modules():
    names = [attnsearch.__name__]
    for info in pkgutil.walk_packages(attnsearch.__path__, prefix="attnsearch."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    if name in _NEEDS:
        pytest.importorskip(_NEEDS[name])
    if name.endswith("__main__"):
        pytest.skip("the command-line entry point has no examples")
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    for test in finder.find(module, name):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} failing example(s) in {name}"
