"""Runtime CPU dispatch: feature detection, target choice, the environment cap,
and results across targets."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CPU_TARGETS

import attnsearch
from attnsearch import _dispatch
from attnsearch._cpu_targets import FAMILIES, TARGETS, variant_module
from attnsearch.search import (
    TSP,
    Continuous,
    Ising,
    MaxCut,
    hill_climb,
    iterated_local_search,
    parallel_tempering,
    particle_swarm,
    simulated_annealing,
    tabu_search,
)


def _automatic(target):
    return TARGETS[target].get("automatic", True)


NATIVE_BUILD = all(_dispatch.built_targets(f) == ("native",) for f in FAMILIES)
needs_variants = pytest.mark.skipif(NATIVE_BUILD, reason="a -march=native build")


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with extra environment variables."""
    environment = {k: v for k, v in os.environ.items() if k != _dispatch.ENV_TARGET}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def test_show_config_names_the_features_and_each_familys_kernel():
    out = io.StringIO()
    attnsearch.show_config(file=out)
    text = out.getvalue()
    assert f"attnsearch {attnsearch.__version__}" in text
    assert "CPU features:" in text
    for family in FAMILIES:
        assert f"  {family} " in text
        assert _dispatch.selected_target(family) in text
    info = _dispatch.config()
    assert set(info["families"]) == set(FAMILIES)
    assert info["supported_targets"] == list(_dispatch.supported_targets())


def test_the_best_target_the_cpu_runs_and_the_build_has_is_chosen():
    supported = _dispatch.supported_targets()
    assert supported[0] == "baseline"
    for family in FAMILIES:
        built = _dispatch.built_targets(family)
        if built == ("native",):
            assert _dispatch.selected_target(family) == "native"
            continue
        assert built[0] == "baseline"
        runnable = [t for t in built if t in supported and _automatic(t)]
        if os.environ.get(_dispatch.ENV_TARGET):
            assert _dispatch.selected_target(family) in runnable
        else:
            assert _dispatch.selected_target(family) == runnable[-1]


def test_targets_need_their_features_and_a_higher_target_needs_more():
    names = list(TARGETS)
    assert names[0] == "baseline"
    for lower, higher in zip(names, names[1:], strict=False):
        assert set(TARGETS[lower]["requires"]) <= set(TARGETS[higher]["requires"])
    features = _dispatch.cpu_features()
    for target in _dispatch.supported_targets():
        assert all(features[f] for f in TARGETS[target]["requires"])


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux only")
def test_detected_features_agree_with_the_kernel():
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not flags:
        pytest.skip("no flags line in /proc/cpuinfo")
    features = _dispatch.cpu_features()
    # Linux lists a feature only when the kernel enabled its register state.
    for ours, linux in [
        ("sse4_2", "sse4_2"),
        ("avx", "avx"),
        ("avx2", "avx2"),
        ("fma", "fma"),
        ("f16c", "f16c"),
        ("bmi2", "bmi2"),
        ("avx512f", "avx512f"),
        ("avx512bw", "avx512bw"),
        ("avx512vl", "avx512vl"),
        ("avx512_vnni", "avx512_vnni"),
        ("avx512_bf16", "avx512_bf16"),
        ("avx512_fp16", "avx512_fp16"),
        ("amx_bf16", "amx_bf16"),
        ("amx_tile", "amx_tile"),
    ]:
        assert features[ours] == (linux in flags), ours


@needs_variants
def test_every_variant_reports_the_target_it_was_compiled_for():
    for family, spec in FAMILIES.items():
        for target in _dispatch.built_targets(family):
            if target not in _dispatch.supported_targets():
                continue
            module = _dispatch._load(family, target)
            assert module.__name__ == variant_module(spec["module"], target)
            assert module._COMPILED_TARGET == target


@needs_variants
def test_loading_a_variant_leaves_the_canonical_module_the_baseline():
    import importlib

    for target in CPU_TARGETS:
        if target in _dispatch.built_targets("attention"):  # (not avx512_vnni)
            _dispatch._load("attention", target)
    canonical = importlib.import_module(FAMILIES["attention"]["module"])
    assert canonical._COMPILED_TARGET == "baseline"


@needs_variants
def test_use_target_switches_every_family_and_restores():
    before = {f: _dispatch.selected_target(f) for f in FAMILIES}
    with _dispatch.use_target("baseline"):
        assert all(_dispatch.selected_target(f) == "baseline" for f in FAMILIES)
        assert _dispatch.kernels("attention")._COMPILED_TARGET == "baseline"
    assert {f: _dispatch.selected_target(f) for f in FAMILIES} == before


def test_use_target_refuses_unknown_and_unsupported_targets():
    with pytest.raises(ValueError, match="not a CPU target"):
        with _dispatch.use_target("avx3"):
            pass
    missing = [t for t in TARGETS if t not in _dispatch.supported_targets()]
    if missing:
        with pytest.raises(ValueError, match="cannot execute"):
            with _dispatch.use_target(missing[-1]):
                pass


@needs_variants
@pytest.mark.parametrize("target", CPU_TARGETS)
def test_environment_variable_caps_the_target(target):
    done = run_python(
        "import attnsearch._dispatch as d, attnsearch._cpu_targets as t\n"
        "print({f: d.selected_target(f) for f in t.FAMILIES})",
        ATTNSEARCH_CPU_TARGET=target,
    )
    assert done.returncode == 0, done.stderr
    # Each family runs the highest of its own targets at or below the cap (only
    # the attention family has an avx512_bf16 variant).
    order = list(TARGETS)
    expected = {
        family: [
            t
            for t in spec["targets"]
            if order.index(t) <= order.index(target) and (_automatic(t) or t == target)
        ][-1]
        for family, spec in FAMILIES.items()
    }
    assert done.stdout.strip() == str(expected)
    assert target in expected.values()


def test_environment_variable_with_an_unknown_target_is_an_error():
    done = run_python("import attnsearch", ATTNSEARCH_CPU_TARGET="avx3")
    assert done.returncode != 0
    assert "ATTNSEARCH_CPU_TARGET='avx3' is not a CPU target" in done.stderr
    assert "baseline, avx2, avx512" in done.stderr


@needs_variants
def test_environment_variable_above_the_cpu_warns_and_uses_the_best():
    missing = [t for t in TARGETS if t not in _dispatch.supported_targets()]
    if not missing:
        pytest.skip("this CPU runs every target")
    done = run_python(
        "import warnings; warnings.simplefilter('always')\n"
        "import attnsearch._dispatch as d\n"
        "print(d.selected_target('attention'))",
        ATTNSEARCH_CPU_TARGET=missing[-1],
    )
    assert done.returncode == 0, done.stderr
    assert f"ATTNSEARCH_CPU_TARGET={missing[-1]} needs CPU features" in done.stderr
    built = _dispatch.built_targets("attention")
    runnable = [
        t for t in built if t in _dispatch.supported_targets() and _automatic(t)
    ]
    assert done.stdout.strip() == runnable[-1]


@needs_variants
def test_a_target_not_automatic_runs_only_when_forced():
    manual = [t for t in TARGETS if not _automatic(t)]
    assert manual == ["amx_bf16_emulated"]
    assert not set(manual) & set(_dispatch.allowed_targets())
    for family in FAMILIES:
        assert _dispatch.selected_target(family) not in manual
    for target in manual:
        if target not in _dispatch.supported_targets():
            continue
        with _dispatch.use_target(target):
            assert _dispatch.selected_target("attention") == target
        done = run_python(
            "import attnsearch._dispatch as d\n"
            "print(d.selected_target('attention'), d.allowed_targets()[-1])",
            ATTNSEARCH_CPU_TARGET=target,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [target, target]
        out = io.StringIO()
        attnsearch.show_config(file=out)
        assert f"{target} (only when forced)" in out.getvalue()
        # Without the request, the best automatic target runs.
        done = run_python(
            "import attnsearch._dispatch as d\nprint(d.selected_target('attention'))"
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() != target


def test_amx_needs_the_tiles_their_os_state_and_the_permission(monkeypatch):
    assert {"amx_tile", "amx_bf16", "os_amx", "amx_permission"} <= set(
        TARGETS["amx_bf16"]["requires"]
    )
    everything = {f: True for f in _dispatch.cpu_features()}
    try:
        for lacking in ("amx_bf16", "amx_tile", "os_amx", "amx_permission"):
            monkeypatch.setattr(
                _dispatch,
                "cpu_features",
                lambda lacking=lacking: {**everything, lacking: False},
            )
            _dispatch.supported_targets.cache_clear()
            supported = _dispatch.supported_targets()
            assert "amx_bf16" not in supported, lacking
            assert "avx512_fp16" in supported
        monkeypatch.setattr(_dispatch, "cpu_features", lambda: everything)
        _dispatch.supported_targets.cache_clear()
        assert "amx_bf16" in _dispatch.supported_targets()
    finally:
        monkeypatch.undo()
        _dispatch.supported_targets.cache_clear()


def test_info_command_prints_the_configuration():
    done = subprocess.run(
        [sys.executable, "-m", "attnsearch", "info"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "kernels:" in done.stdout and "attention" in done.stdout


def _search_runs():
    """One run of each method on each problem kind, as (name, result)."""
    rng = np.random.default_rng(3)
    n = 60
    edges = {}
    for i in range(n):
        for j in rng.choice(n, 3, replace=False):
            if i != j:
                edges[(min(i, j), max(i, j))] = float(rng.choice([-1.0, 1.0]))
    ising = Ising(rng.normal(size=n) * 0.1, edges)
    maxcut = MaxCut(n, np.array(sorted(edges)), rng.uniform(0.5, 2.0, len(edges)))
    tsp = TSP(rng.uniform(0, 100, size=(80, 2)))
    rastrigin = Continuous.builtin("rastrigin", dim=6)
    common = dict(seed=5, num_chains=2, num_threads=2)
    return [
        ("anneal ising", simulated_annealing(ising, num_sweeps=200, **common)),
        ("tabu maxcut", tabu_search(maxcut, max_iters=400, **common)),
        ("hill tsp", hill_climb(tsp, **common)),
        ("ils tsp", iterated_local_search(tsp, max_iters=60, **common)),
        ("tempering ising", parallel_tempering(ising, num_sweeps=50, **common)),
        ("anneal rastrigin", simulated_annealing(rastrigin, num_sweeps=300, **common)),
        ("swarm rastrigin", particle_swarm(rastrigin, max_iters=100, **common)),
    ]


@needs_variants
@pytest.mark.skipif(len(CPU_TARGETS) < 2, reason="one CPU target here")
def test_search_results_do_not_depend_on_the_cpu_target():
    # The search kernels never contract multiply-adds, so every target computes
    # the same numbers; the built-in continuous functions use explicit fused
    # multiply-adds where the target has FMA (all but the baseline), so they
    # agree bit for bit among those targets.
    results = {}
    for target in CPU_TARGETS:
        with _dispatch.use_target(target):
            results[target] = _search_runs()
    reference = CPU_TARGETS[-1]
    for target in CPU_TARGETS:
        for (name, got), (_, want) in zip(
            results[target], results[reference], strict=True
        ):
            if target == "baseline" and "rastrigin" in name:
                continue
            np.testing.assert_array_equal(got.best_state, want.best_state, err_msg=name)
            assert got.objective == want.objective, (target, name)
