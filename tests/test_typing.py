"""The public API is typed, and stays so.

* mypy passes on the whole package, function bodies included (``[tool.mypy]``
  in pyproject.toml);
* every public callable of the modules below is annotated: functions on every
  parameter and their return, classes on ``__init__`` and every public method
  and property. Compiled objects are read from their ``.pyi`` stubs (which
  ``test_stubs.py`` checks against the modules).
"""

import ast
import fnmatch
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Modules whose ``__all__`` is the public API checked here.
MODULES = [
    "attnsearch",
    "attnsearch.data",
    "attnsearch.plot",
    "attnsearch.search",
    "attnsearch.search.dask",
    "attnsearch.search.dimod",
    "attnsearch.search.methods",
    "attnsearch.search.minimize",
    "attnsearch.search.problems",
    "attnsearch.search.problems.continuous",
    "attnsearch.search.problems.ising",
    "attnsearch.search.problems.tsp",
    "attnsearch.search.result",
    "attnsearch.attention",
    "attnsearch.attention.dask",
    "attnsearch.attention.torch",
    "attnsearch.distributed",
    "attnsearch.optim",
]
#: Modules that need an optional dependency to import.
OPTIONAL = {"attnsearch.search.dimod": "dimod", "attnsearch.attention.torch": "torch"}


def test_mypy_passes(tmp_path):
    pytest.importorskip("mypy")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("needs the source checkout (pyproject.toml)")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy_cache"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


# -- annotations by introspection ---------------------------------------------


def _is_compiled(obj):
    """Whether ``obj`` comes from an extension module (typed by its stub)."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    return module is not None and not str(getattr(module, "__file__", "")).endswith(
        ".py"
    )


def _function_gaps(func, label, skip_first):
    """Names of the unannotated parameters (and "return") of ``func``."""
    signature = inspect.signature(func)
    parameters = list(signature.parameters.values())[1 if skip_first else 0 :]
    gaps = [
        f"{label}: parameter {p.name!r}"
        for p in parameters
        if p.annotation is inspect.Parameter.empty
    ]
    if signature.return_annotation is inspect.Signature.empty:
        gaps.append(f"{label}: return")
    return gaps


def _is_public_member(name):
    return name in ("__init__", "__call__") or not name.startswith("_")


def _class_gaps(cls, label):
    """Gaps of ``__init__`` and the public methods and properties that the
    package defines on ``cls`` or its bases (not those of foreign bases)."""
    gaps = []
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("attnsearch") or _is_compiled(klass):
            continue
        for name, member in vars(klass).items():
            if name in seen or not _is_public_member(name):
                continue
            seen.add(name)
            where = f"{label}.{name}"
            if isinstance(member, staticmethod):
                gaps += _function_gaps(member.__func__, where, skip_first=False)
            elif isinstance(member, classmethod):
                gaps += _function_gaps(member.__func__, where, skip_first=True)
            elif isinstance(member, property):
                for accessor in (member.fget, member.fset):
                    if accessor is not None:
                        gaps += _function_gaps(accessor, where, skip_first=True)
            elif inspect.isfunction(member):
                gaps += _function_gaps(member, where, skip_first=True)
    return gaps


def _stub_gaps(obj, label):
    """Gaps of a compiled class or function, read from its module's .pyi."""
    module = sys.modules[obj.__module__]
    stub = Path(module.__file__).parent / (module.__name__.rpartition(".")[2] + ".pyi")
    if not stub.is_file():
        return [f"{label}: compiled, but {stub.name} is missing"]
    tree = ast.parse(stub.read_text())
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef | ast.FunctionDef)
        and node.name == obj.__name__
    ]
    if not found:
        return [f"{label}: not in {stub.name}"]
    node = found[0]
    if isinstance(node, ast.FunctionDef):
        return _stub_function_gaps(node, label, skip_first=False)
    gaps = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and _is_public_member(item.name):
            decorators = {getattr(d, "id", None) for d in item.decorator_list}
            gaps += _stub_function_gaps(
                item, f"{label}.{item.name}", "staticmethod" not in decorators
            )
    return gaps


def _stub_function_gaps(node, label, skip_first):
    args = node.args
    parameters = args.posonlyargs + args.args
    parameters = parameters[1 if skip_first else 0 :] + args.kwonlyargs
    parameters += [a for a in (args.vararg, args.kwarg) if a is not None]
    gaps = [f"{label}: parameter {a.arg!r}" for a in parameters if a.annotation is None]
    if node.returns is None:
        gaps.append(f"{label}: return")
    return gaps


def annotation_gaps(obj, label):
    """Every missing annotation of the public callable ``obj``."""
    if _is_compiled(obj):
        return _stub_gaps(obj, label)
    if inspect.isclass(obj):
        return _class_gaps(obj, label)
    return _function_gaps(obj, label, skip_first=False)


@pytest.mark.parametrize("module_name", MODULES)
def test_public_callables_are_annotated(module_name):
    if module_name in OPTIONAL:
        pytest.importorskip(OPTIONAL[module_name])
    module = importlib.import_module(module_name)
    gaps = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or callable(obj):
            gaps += annotation_gaps(obj, f"{module_name}.{name}")
    assert not gaps, "unannotated public API:\n" + "\n".join(gaps)


def test_the_check_finds_missing_annotations():
    def bare(x, *args, y: int = 0, **kwargs) -> None:
        pass

    class Thing:
        def __init__(self, a: int) -> None:
            pass

        def method(self, b):
            return b

        @property
        def value(self):
            return 1

        @staticmethod
        def helper(c: int):
            return c

        def _private(self, d):
            return d

    Thing.__module__ = "attnsearch.fake"
    assert annotation_gaps(bare, "bare") == [
        "bare: parameter 'x'",
        "bare: parameter 'args'",
        "bare: parameter 'kwargs'",
    ]
    assert sorted(annotation_gaps(Thing, "Thing")) == [
        "Thing.helper: return",
        "Thing.method: parameter 'b'",
        "Thing.method: return",
        "Thing.value: return",
    ]


def test_py_typed_ships():
    """The marker is in the package, and the build's package data takes it (and
    the stubs) into wheels."""
    import attnsearch

    assert (Path(attnsearch.__file__).parent / "py.typed").is_file()
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("needs the source checkout (pyproject.toml)")
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    config = pyprojecttoml.read_configuration(pyproject)
    package_data = config["tool"]["setuptools"]["package-data"]
    patterns = [  # "*" (read back as "") is every package
        pattern
        for key in ("", "*", "attnsearch")
        for pattern in package_data.get(key, [])
    ]
    for name in ("py.typed", "_threads.pyi"):
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
