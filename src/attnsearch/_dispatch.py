"""Runtime CPU dispatch: which compiled variant of each kernel family runs here.

The build compiles every kernel family (:data:`_cpu_targets.FAMILIES`) once per
CPU target (:data:`_cpu_targets.TARGETS`): ``attention/_kernels`` for the
x86-64 baseline, ``attention/_kernels_avx2`` with AVX2 + FMA, and so on, all
from one generated C file. At import this module reads the CPU's features
(cpuid and XCR0, :mod:`attnsearch._cpuinfo`), asks Linux for the AMX tile
state where the CPU has AMX, and picks for each family the highest target that
the CPU can execute and the build has. Nothing is loaded that the CPU cannot
run, so one wheel serves every x86-64 machine.

``ATTNSEARCH_CPU_TARGET=<target>`` caps the choice (``baseline``, ``avx2``,
``avx512``, ...): for comparing targets on one machine and for running the
tests under each. A target above what the CPU supports is lowered with a
warning; a name that is not a target is an error. A target marked not
``automatic`` (``amx_bf16_emulated``: the AMX kernels on an emulation of the
tiles, for tests) is used only when it is the one forced.

Python code calls kernels through :func:`kernels`, a module-like handle that
forwards to the chosen variant; :func:`use_target` switches targets inside a
``with`` block (the tests run the reference comparisons under every target).
A build with ``ATTNSEARCH_NATIVE=1`` compiles each family once for the build
machine (``-march=native``) and has no variants; it reports the target
``native``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, lru_cache
from types import ModuleType
from typing import Any, TextIO

from . import _cpuinfo
from ._cpu_targets import FAMILIES, TARGETS, variant_module

__all__ = [
    "ENV_TARGET",
    "allowed_targets",
    "config",
    "cpu_features",
    "kernels",
    "selected_target",
    "show_config",
    "supported_targets",
    "use_target",
]

#: The environment variable that caps the target.
ENV_TARGET = "ATTNSEARCH_CPU_TARGET"
TARGET_ORDER = tuple(TARGETS)
NATIVE = "native"

_lock = threading.RLock()
_forced: str | None = None


@lru_cache(maxsize=1)
def cpu_features() -> dict[str, bool]:
    """Features of this CPU and OS, plus ``amx_permission`` (asked for once).

    Returns
    -------
    dict of str to bool
        ``{"avx2": True, "avx512f": True, "amx_bf16": False, ...}``.
    """
    features = dict(_cpuinfo.cpu_features())
    has_amx = features["amx_tile"] and features["os_amx"]
    features["amx_permission"] = bool(has_amx and _cpuinfo.request_amx_permission())
    return features


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


@lru_cache(maxsize=1)
def supported_targets() -> tuple[str, ...]:
    """The targets this CPU can execute, lowest first.

    On a CPU that is not x86 the build has only the portable ``baseline``.
    """
    if not _is_x86():
        return ("baseline",)
    features = cpu_features()
    return tuple(
        name
        for name, target in TARGETS.items()
        if all(features.get(feature, False) for feature in target["requires"])
    )


def _requested_target() -> str | None:
    """The cap set by ATTNSEARCH_CPU_TARGET, or None."""
    value = os.environ.get(ENV_TARGET, "").strip().lower()
    if not value:
        return None
    if value not in TARGETS:
        raise ValueError(
            f"{ENV_TARGET}={value!r} is not a CPU target; use one of "
            f"{', '.join(TARGET_ORDER)} (or unset it for the best this CPU supports)"
        )
    return value


def _rank(target: str) -> int:
    return TARGET_ORDER.index(target)


def _automatic(target: str) -> bool:
    """Whether the dispatch may choose ``target`` without being told to
    (``amx_bf16_emulated`` may not: it runs only when forced)."""
    return TARGETS[target].get("automatic", True)


@cache
def _compiled_target(module: str) -> str | None:
    """The target the canonical module of a family was compiled for."""
    loaded = importlib.import_module(module)
    return getattr(loaded, "_COMPILED_TARGET", None)


@cache
def built_targets(family: str) -> tuple[str, ...]:
    """The targets of ``family`` present in this installation, lowest first
    (``("native",)`` for a ``-march=native`` build)."""
    module = FAMILIES[family]["module"]
    variants = tuple(
        target
        for target in FAMILIES[family]["targets"]
        if target != "baseline"
        and importlib.util.find_spec(variant_module(module, target)) is not None
    )
    # Only a build without variants can be a native one (the canonical module
    # says which); otherwise the canonical module is the baseline.
    if not variants and _compiled_target(module) == NATIVE:
        return (NATIVE,)
    return ("baseline",) + variants


@lru_cache(maxsize=1)
def _default_cap() -> str:
    """The cap at import: the environment's request, lowered to what the CPU runs."""
    supported = supported_targets()
    best = [t for t in supported if _automatic(t)][-1]
    requested = _requested_target()
    if requested is None:
        return best
    if requested not in supported:
        warnings.warn(
            f"{ENV_TARGET}={requested} needs CPU features this machine lacks "
            f"({', '.join(_missing_features(requested))}); using {best}",
            RuntimeWarning,
            stacklevel=2,
        )
        return best
    return requested


def allowed_targets() -> tuple[str, ...]:
    """The targets this process may use: those the CPU runs, up to the cap of
    ``ATTNSEARCH_CPU_TARGET`` when it is set (lowest first); a target that is
    not chosen automatically only when it is the cap."""
    cap = _default_cap()
    return tuple(
        t
        for t in supported_targets()
        if _rank(t) <= _rank(cap) and (_automatic(t) or t == cap)
    )


def _missing_features(target: str) -> list[str]:
    features = cpu_features()
    return [f for f in TARGETS[target]["requires"] if not features.get(f, False)]


def selected_target(family: str) -> str:
    """The target whose variant of ``family`` runs now.

    Parameters
    ----------
    family : str
        A key of ``_cpu_targets.FAMILIES`` (``"attention"``, ``"search"``, ...).
    """
    built = built_targets(family)
    if built == (NATIVE,):
        return NATIVE
    cap = _forced if _forced is not None else _default_cap()
    supported = set(supported_targets())
    usable = [
        t
        for t in built
        if t in supported and _rank(t) <= _rank(cap) and (_automatic(t) or t == cap)
    ]
    return usable[-1] if usable else "baseline"


_loaded: dict[tuple[str, str], ModuleType] = {}


def _load(family: str, target: str) -> ModuleType:
    key = (family, target)
    module = _loaded.get(key)
    if module is None:
        with _lock:
            module = _loaded.get(key)
            if module is None:
                base = FAMILIES[family]["module"]
                name = base if target == NATIVE else variant_module(base, target)
                occupant = sys.modules.get(base)
                module = importlib.import_module(name)
                if name != base and sys.modules.get(base) is module:
                    # A Cython module also registers itself under the name it
                    # was compiled as (the canonical one): undo that, so that
                    # importing the canonical module still gives the baseline.
                    if occupant is None:
                        del sys.modules[base]
                    else:
                        sys.modules[base] = occupant
                compiled_for = getattr(module, "_COMPILED_TARGET", None)
                if compiled_for != target:
                    raise ImportError(
                        f"{name} reports target {compiled_for!r}, expected {target!r}: "
                        "the installation mixes builds; reinstall attnsearch"
                    )
                _loaded[key] = module
    return module


# The module each family runs now; emptied when use_target() switches targets.
_current: dict[str, ModuleType] = {}


def kernel_module(family: str) -> ModuleType:
    """The module of ``family``'s variant chosen for this CPU (see :func:`kernels`)."""
    module = _current.get(family)
    if module is None:
        module = _current[family] = _load(family, selected_target(family))
    return module


class _KernelHandle:
    """Module-like handle: ``handle.f`` is ``f`` of the family's chosen variant.

    It holds a copy of the variant module's namespace, so an attribute is a
    plain instance lookup (~20 ns, as for a module); :func:`use_target`
    rebinds every handle, so code that fetched one at import follows a switch.
    """

    _family: str

    def __init__(self, family: str):
        if family not in FAMILIES:
            raise KeyError(f"no kernel family {family!r}")
        self._bind(family)

    def _bind(self, family: str) -> None:
        namespace = vars(self)
        namespace.clear()
        namespace.update(vars(kernel_module(family)))
        namespace["_family"] = family

    def __repr__(self) -> str:
        return f"<kernels {self._family!r}: {kernel_module(self._family).__name__}>"


_handles: dict[str, _KernelHandle] = {}


def kernels(family: str) -> Any:
    """Handle to the compiled kernels of ``family``, as chosen for this CPU.

    Parameters
    ----------
    family : str
        A key of ``_cpu_targets.FAMILIES``.

    Returns
    -------
    module-like
        Attribute access reaches the chosen variant's module.
    """
    handle = _handles.get(family)
    if handle is None:
        with _lock:
            handle = _handles.setdefault(family, _KernelHandle(family))
    return handle


def _rebind_all() -> None:
    _current.clear()
    for family, handle in _handles.items():
        handle._bind(family)


@contextmanager
def use_target(target: str) -> Iterator[str]:
    """Run the ``with`` block on ``target``'s kernels (capped by what each family
    has and the CPU runs); for tests and benchmarks. Not thread-safe: the switch
    is process-wide.

    Parameters
    ----------
    target : str
        One of :func:`supported_targets`.
    """
    global _forced
    if target not in TARGETS:
        raise ValueError(f"{target!r} is not a CPU target; use one of {TARGET_ORDER}")
    if target not in supported_targets():
        raise ValueError(
            f"this CPU cannot execute {target} "
            f"(missing: {', '.join(_missing_features(target))})"
        )
    previous, _forced = _forced, target
    _rebind_all()
    try:
        yield target
    finally:
        _forced = previous
        _rebind_all()


def config() -> dict[str, Any]:
    """Machine-readable form of :func:`show_config`."""
    from . import __version__
    from ._threading import openmp_enabled

    features = cpu_features()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpu": _cpuinfo.cpu_brand_string() or platform.processor() or "unknown",
        "cpu_features": sorted(name for name, has in features.items() if has),
        "supported_targets": list(supported_targets()),
        "requested_target": os.environ.get(ENV_TARGET) or None,
        "openmp": openmp_enabled(),
        "families": {
            family: {
                "module": spec["module"],
                "summary": spec["summary"],
                "built": list(built_targets(family)),
                "selected": selected_target(family),
            }
            for family, spec in FAMILIES.items()
        },
    }


def show_config(file: TextIO | None = None) -> None:
    """Print the CPU features found and the kernel variant chosen for each family.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default ``sys.stdout``).

    Examples
    --------
    >>> import attnsearch
    >>> attnsearch.show_config()  # doctest: +SKIP
    attnsearch 0.1.0, Python 3.11.7, x86_64
    CPU: AMD EPYC 9R45 ...
    """
    out = file if file is not None else sys.stdout
    info = config()
    print(
        f"attnsearch {info['version']}, Python {info['python']}, {info['machine']}",
        file=out,
    )
    print(f"CPU: {info['cpu']}", file=out)
    print(
        f"CPU features: {' '.join(info['cpu_features']) or '(none detected)'}", file=out
    )
    runs = [
        t if TARGETS[t].get("automatic", True) else f"{t} (only when forced)"
        for t in info["supported_targets"]
    ]
    print(f"targets this CPU runs: {', '.join(runs)}", file=out)
    if info["requested_target"]:
        print(f"{ENV_TARGET}={info['requested_target']}", file=out)
    print(f"OpenMP: {'yes' if info['openmp'] else 'no (serial build)'}", file=out)
    print("kernels:", file=out)
    width = max(len(f) for f in info["families"])
    for family, entry in info["families"].items():
        print(
            f"  {family:<{width}}  {entry['selected']:<11}  "
            f"(built: {', '.join(entry['built'])}; {entry['summary']})",
            file=out,
        )


# Chosen once at import: a misspelt ATTNSEARCH_CPU_TARGET fails here, not at the
# first kernel call, and a target the CPU lacks is reported once.
_default_cap()
