"""The command line as a user meets it: subprocesses, exit codes, output files."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import attnsearch
from attnsearch.data import DATA_DIR as DATA
from attnsearch.search import QUBO
from attnsearch.search.problems.ising import read_qubo

PACKAGE_PARENT = str(Path(attnsearch.__file__).resolve().parent.parent)


def run_cli(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, "-m", "attnsearch", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_solve_tsp_json_reports_every_field_and_a_valid_tour(tmp_path):
    tour_file = tmp_path / "tour.txt"
    done = run_cli(
        "solve",
        "tsp",
        DATA / "berlin52.tsp",
        "--time-limit",
        "0.5",
        "--seed",
        "3",
        "--json",
        "--out",
        tour_file,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for key in (
        "problem",
        "kind",
        "method",
        "objective",
        "optimum",
        "best_known",
        "reference",
        "gap_percent",
        "best_state",
        "seconds",
        "n_evaluations",
        "evaluations_per_second",
        "stop_reason",
        "chains",
        "threads",
        "seed",
    ):
        assert key in report
    # The default TSP method: iterated local search over candidate lists.
    assert report["method"] == "iterated_local_search"
    # berlin52.opt.tour beside the file: a proven optimum.
    assert report["optimum"] == 7542
    assert report["reference"] == "optimum" and report["best_known"] is None
    tour = report["best_state"]
    assert sorted(tour) == list(range(52))
    assert report["gap_percent"] == pytest.approx(
        100 * (report["objective"] - 7542) / 7542
    )
    assert report["gap_percent"] < 2
    # The written tour is TSPLIB: 1-based cities, -1, EOF; the same tour.
    lines = tour_file.read_text().split()
    start = lines.index("TOUR_SECTION") + 1
    written = [int(v) for v in lines[start : lines.index("-1")]]
    assert [c - 1 for c in written] == tour


def test_solve_tsp_moves(tmp_path):
    # --moves picks the descent (here: without the Lin-Kernighan step); a kind
    # that does not exist is one line on stderr and exit code 2.
    done = run_cli(
        "solve",
        "tsp",
        DATA / "eil51.tsp",
        "--time-limit",
        "0.3",
        "--moves",
        "2opt,oropt,3opt",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["best_state"]) == list(range(51))
    bad = run_cli("solve", "tsp", DATA / "eil51.tsp", "--moves", "2opt,5opt")
    assert bad.returncode == 2 and "moves" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_solve_tsp_partition():
    # --partition cuts ILS's tours into segments (here 2 of a280's 280 cities);
    # 'off' turns it off; anything else, or another method, is a usage error.
    done = run_cli(
        "solve",
        "tsp",
        DATA / "a280.tsp",
        "--time-limit",
        "0.5",
        "--partition",
        "140",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["best_state"]) == list(range(280))
    off = run_cli(
        "solve", "tsp", DATA / "eil51.tsp", "--time-limit", "0.2", "--partition", "off"
    )
    assert off.returncode == 0, off.stderr
    for extra in (
        ["--partition", "many"],
        ["--partition", "8"],
        ["--method", "anneal", "--partition", "100"],
    ):
        bad = run_cli("solve", "tsp", DATA / "a280.tsp", "--time-limit", "0.2", *extra)
        assert bad.returncode == 2 and "partition" in bad.stderr
        assert "Traceback" not in bad.stderr


def test_solve_tsp_text_output_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    picture = tmp_path / "tour.png"
    done = run_cli(
        "solve",
        "tsp",
        DATA / "eil51.tsp",
        "--method",
        "hill",
        "--plot",
        picture,
        "--chains",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert "tour length" in done.stdout and "gap" in done.stdout
    assert "M evaluations/s" in done.stdout
    assert "hill_climb" in done.stdout  # which method ran
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_solve_maxcut_finds_the_known_cut_and_writes_spins(tmp_path):
    spins_file = tmp_path / "cut.txt"
    done = run_cli(
        "solve",
        "maxcut",
        DATA / "G11.txt",
        "--time-limit",
        "1",
        "--json",
        "--out",
        spins_file,
        "--optimum",
        "564",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["method"] == "parallel_tempering"  # the max-cut default
    assert report["optimum"] == 564
    assert report["reference"] == "given optimum" and report["best_known"] is None
    # Signed, and a cut is maximised: positive when short of the optimum.
    assert report["gap_percent"] == pytest.approx(
        100 * (564 - report["objective"]) / 564
    )
    spins = np.array([int(s) for s in spins_file.read_text().strip().split(",")])
    assert set(np.unique(spins)) <= {-1, 1}
    # The reported cut is the cut of the written spins.
    from attnsearch.search import MaxCut

    graph = MaxCut.from_gset(DATA / "G11.txt")
    assert graph.cut_value(spins) == pytest.approx(report["objective"])
    assert report["objective"] >= 0.98 * 564


def _gset_with_best_known(tmp_path, best_known):
    """G11 in a folder whose best_known.tsv gives ``best_known`` for it."""
    graph = tmp_path / "G11.txt"
    graph.write_bytes((DATA / "G11.txt").read_bytes())
    (tmp_path / "best_known.tsv").write_text(
        f"name\tn\tm\tbest_known_cut\nG11\t800\t1600\t{best_known}\n"
    )
    return graph


BELOW_ANY_CUT = 20


def test_a_cut_above_the_best_known_is_not_a_shortfall(tmp_path):
    # Hostile-input report: G81's cut of 14054, above the 14030 of Benlic & Hao's
    # table, printed "(optimum 14030, gap 0.17 %)". A best-known value is not an
    # optimum, and a better result has a negative gap that says so. The "best
    # known" here is far below what the first descent finds (G11's best is 564),
    # so the test does not depend on how much search a loaded machine does.
    graph = _gset_with_best_known(tmp_path, BELOW_ANY_CUT)
    done = run_cli("solve", "maxcut", graph, "--time-limit", "0.3")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("cut"))
    cut = float(line.split()[1])
    assert cut > BELOW_ANY_CUT
    gap = 100 * (BELOW_ANY_CUT - cut) / BELOW_ANY_CUT
    assert line.endswith(
        f"(best known {BELOW_ANY_CUT}, gap {gap:+.2f} %: better than the best known)"
    )
    assert "optimum" not in done.stdout
    done = run_cli("solve", "maxcut", graph, "--time-limit", "0.3", "--json")
    report = json.loads(done.stdout)
    assert report["optimum"] is None and report["best_known"] == BELOW_ANY_CUT
    assert report["reference"] == "best known"
    assert report["gap_percent"] == pytest.approx(
        100 * (BELOW_ANY_CUT - report["objective"]) / BELOW_ANY_CUT
    )
    assert report["gap_percent"] < 0


def test_a_cut_below_the_best_known_has_a_positive_gap(tmp_path):
    graph = _gset_with_best_known(tmp_path, 564)
    done = run_cli("solve", "maxcut", graph, "--method", "hill", "--chains", "1")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("cut"))
    cut = float(line.split()[1])
    assert cut < 564  # a single descent from a random cut
    assert line.endswith(f"(best known 564, gap {100 * (564 - cut) / 564:+.2f} %)")


def test_a_tour_below_a_wrong_optimum_says_so():
    done = run_cli(
        "solve",
        "tsp",
        DATA / "berlin52.tsp",
        "--time-limit",
        "0.3",
        "--optimum",
        "8000",
        "--json",
    )
    report = json.loads(done.stdout)
    assert report["objective"] < 8000
    assert report["optimum"] == 8000 and report["reference"] == "given optimum"
    assert report["gap_percent"] == pytest.approx(
        100 * (report["objective"] - 8000) / 8000
    )
    done = run_cli(
        "solve",
        "tsp",
        DATA / "berlin52.tsp",
        "--time-limit",
        "0.3",
        "--optimum",
        "8000",
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("tour length"))
    assert line.endswith(": better than the given optimum)")
    assert "gap -" in line


def test_signed_gap():
    from attnsearch.cli import signed_gap

    assert signed_gap(110.0, 100.0, maximise=False) == pytest.approx(10.0)
    assert signed_gap(90.0, 100.0, maximise=False) == pytest.approx(-10.0)
    assert signed_gap(90.0, 100.0, maximise=True) == pytest.approx(10.0)
    assert signed_gap(14054.0, 14030.0, maximise=True) == pytest.approx(-0.171, 1e-2)
    assert signed_gap(-5.0, -10.0, maximise=False) == pytest.approx(50.0)
    assert signed_gap(1.0, 0.0, maximise=False) is None


@pytest.mark.parametrize(
    "method", ["auto", "pso", "anneal", "hill", "stochastic", "tabu"]
)
def test_solve_continuous_every_method(method):
    done = run_cli(
        "solve",
        "continuous",
        "sphere",
        "--dim",
        "4",
        "--method",
        method,
        "--time-limit",
        "0.3",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["best_state"]) == 4
    assert report["optimum"] == 0 and report["reference"] == "optimum"
    assert report["objective"] < 0.1  # from ~35 at random points; time-limited


def test_solve_continuous_defaults_to_minimizes_default():
    # The command line's default is minimize(method="auto") itself: the same
    # point, value and evaluation count as the library call with that seed.
    from attnsearch.search import Continuous, minimize
    from attnsearch.search._global import default_maxfev

    done = run_cli(
        "solve", "continuous", "rastrigin", "--dim", "4", "--seed", "3", "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    problem = Continuous.builtin("rastrigin", dim=4)
    bounds = list(zip(problem.lower, problem.upper))
    res = minimize("rastrigin", bounds, seed=3)
    assert report["method"] == "minimize"
    assert report["chains"] == 1 and report["threads"] == 1
    assert report["n_evaluations"] == res.nfev == default_maxfev(4)
    assert report["stop_reason"] == "maxfev"
    assert report["objective"] == res.fun and report["objective"] < 1e-8
    assert report["best_state"] == res.x.tolist()
    assert report["optimum"] == 0 and report["reference"] == "optimum"

    text = run_cli("solve", "continuous", "rastrigin", "--dim", "4", "--seed", "3")
    assert text.returncode == 0, text.stderr
    assert "minimize(method='auto')" in text.stdout
    assert "k evaluations/s, stopped by maxfev" in text.stdout
    value_line = next(
        line for line in text.stdout.splitlines() if line.startswith("value")
    )
    assert float(value_line.split()[1]) == pytest.approx(res.fun, abs=1e-18)

    # Other methods stay selectable; several chains need one of them.
    swarm = run_cli(
        "solve", "continuous", "rastrigin", "--dim", "4", "--method", "pso",
        "--time-limit", "0.2", "--json",
    )  # fmt: skip
    assert swarm.returncode == 0, swarm.stderr
    assert json.loads(swarm.stdout)["method"] == "particle_swarm"
    assert json.loads(swarm.stdout)["chains"] == 2
    chains = run_cli("solve", "continuous", "sphere", "--dim", "2", "--chains", "2")
    assert chains.returncode == 2
    assert "--chains" in chains.stderr and "Traceback" not in chains.stderr


def test_qubo_coordinate_list_and_npz_agree(tmp_path):
    rng = np.random.default_rng(1)
    Q = np.triu(rng.integers(-5, 6, size=(12, 12))).astype(float)
    text = tmp_path / "model.txt"
    lines = ["# a small QUBO", "offset 2.5"]
    lines += [f"{i} {j} {Q[i, j]:g}" for i, j in zip(*np.nonzero(Q))]
    text.write_text("\n".join(lines) + "\n")
    npz = tmp_path / "model.npz"
    np.savez(npz, Q=Q, offset=2.5)
    a, b = read_qubo(text), read_qubo(npz)
    reference = QUBO(Q, offset=2.5)
    for x in rng.integers(0, 2, size=(20, 12)):
        assert a.energy(x) == pytest.approx(reference.energy(x))
        assert b.energy(x) == pytest.approx(reference.energy(x))
    done = run_cli(
        "solve", "qubo", text, "--method", "anneal", "--json", "--time-limit", "0.3"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    brute = min(
        reference.energy(np.array([(k >> i) & 1 for i in range(12)]))
        for k in range(1 << 12)
    )
    assert report["objective"] == pytest.approx(brute)


@pytest.mark.parametrize(
    "args, words",
    [
        (["solve", "tsp", "no/such/file.tsp"], "no such file"),
        (["solve", "tsp", "."], "directory"),
        (["solve", "maxcut", DATA / "berlin52.tsp"], "berlin52"),
        (["solve", "tsp", DATA / "G11.txt"], "G11"),
        (["solve", "continuous", "nosuchfunction", "--dim", "3"], "nosuchfunction"),
        (["solve", "continuous", "sphere", "--dim", "0"], "dim"),
        (["solve", "tsp", DATA / "berlin52.tsp", "--method", "pso"], "--method"),
        (["solve", "tsp", DATA / "berlin52.tsp", "--chains", "0"], "--chains"),
        (["solve", "tsp", DATA / "berlin52.tsp", "--threads", "9" * 30], "--threads"),
        (["solve", "tsp", DATA / "berlin52.tsp", "--time-limit", "-1"], "--time-limit"),
        (["solve", "tsp", DATA / "berlin52.tsp", "--seed", "abc"], "--seed"),
        (["solve"], "kind"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, words):
    done = run_cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(words).lower() in lines[0].lower()


@pytest.mark.parametrize(
    "content, words",
    [
        ("0 1\n", "line 1"),
        ("0 1 x\n", "line 1"),
        ("# only a comment\n", "no 'i j value'"),
        ("0 0 1\n-1 2 3\n", "line 2"),
        ("0 0 nan\n", "not a finite number"),
        # Hostile input: values that overflow the energies printed two NumPy
        # warnings and blamed an "offset" the file lacks.
        (
            "0 0 1e308\n1 1 1e308\n0 1 1\n",
            r"line 1: value '1e308' takes the sum of \|values\| to 1e\+308, above "
            r"1e\+300: energies could overflow float64",
        ),
        # The Ising form's terms sum to 1.125e300: the line past 1e300 is named.
        ("0 1 1e300\n1 2 5e299\n", r"line 2: value '5e299' .* to 1.5e\+300"),
        ("0 0 1e308\n0 0 1e308\n", r"line 2: .*\(0, 0\) past the float64 range"),
        (
            "offset 1.79769313e308\n0 0 1e300\n",
            r"line 1: offset 1.79769e\+308 overflows",
        ),
    ],
)
def test_malformed_qubo_file(tmp_path, content, words):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning before the error
        with pytest.raises(ValueError, match=words) as error:
            read_qubo(path)
    assert str(path) in str(error.value)
    done = run_cli("solve", "qubo", path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr


def test_qubo_files_near_the_energy_limit_are_read(tmp_path):
    # The model decides: |values| summing past 1e300 are fine while the Ising
    # form's biases and couplings stay below (here 7e299).
    path = tmp_path / "large.txt"
    path.write_text("0 1 7e299\n1 2 -7e299\n")
    assert read_qubo(path).n == 3


def test_overflowing_gset_weights_are_one_clear_line(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text("3 2\n1 2 1e308\n2 3 1e308\n")
    done = run_cli("solve", "maxcut", path, "--time-limit", "0.1")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"attnsearch: error: {path}, line 2: weight '1e308' takes the sum of "
        "|weights| to 1e+308, above 1e+300: cut values and energies could "
        "overflow float64; rescale the weights"
    ]


def test_malformed_tsplib_file_is_one_line(tmp_path):
    path = tmp_path / "broken.tsp"
    path.write_text(
        "NAME : broken\nTYPE : TSP\nDIMENSION : 3\n"
        "EDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1\nEOF\n"
    )
    done = run_cli("solve", "tsp", path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_unwritable_output_is_one_line(tmp_path):
    done = run_cli(
        "solve",
        "continuous",
        "sphere",
        "--dim",
        "2",
        "--time-limit",
        "0.1",
        "--out",
        tmp_path / "missing" / "x.txt",
    )
    assert done.returncode == 2
    assert "cannot write" in done.stderr


def test_demo_quick_runs():
    done = run_cli("demo", "--quick")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_bench_runs_from_an_installed_copy():
    # `attnsearch bench` needs nothing beyond the package: shipped instances,
    # the baseline kernels and the NumPy reference as its baselines.
    done = run_cli("bench", "--quick", "search")
    assert done.returncode == 0, done.stderr
    assert "TSP a280" in done.stdout and "best known 564" in done.stdout
    assert "kernels" in done.stdout.splitlines()[0]


def test_bench_minimize_runs_on_a_tiny_set():
    # The suite against SciPy's optimisers (`attnsearch bench minimize`), cut to
    # one 2-d function, one seed and two solvers.
    done = run_cli(
        "bench",
        "minimize",
        "--functions",
        "branin-2",
        "--seeds",
        "1",
        "--solvers",
        "minimize,dual_annealing",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "equal evaluations" in lines[0]
    row = next(line for line in lines if line.strip().startswith("branin-2"))
    assert row.split()[1] == "9000"  # the budget, 2000 d + 5000
    assert "1/1" in row  # both solvers reach Branin's minimum
    bad = run_cli("bench", "minimize", "--functions", "nope-3")
    assert bad.returncode == 2 and "unknown function 'nope-3'" in bad.stderr


def test_bench_refuses_an_unknown_section():
    done = run_cli("bench", "tsp")
    assert done.returncode == 2
    assert "unknown section 'tsp'" in done.stderr


def test_peer_tables_fall_back_on_the_shipped_instances(tmp_path, monkeypatch):
    # bench/peers reads --data, $ATTNSEARCH_DATA or the developers' data folder
    # (../shared/data beside the checkout, when it is there), else the
    # copies shipped in attnsearch.data (the tables skip what is missing).
    bench = Path(__file__).resolve().parents[2] / "bench"
    if not (bench / "peers").is_dir():
        pytest.skip("no bench/ folder beside the tests")
    monkeypatch.syspath_prepend(str(bench))
    from peers.search import _instance

    shipped = _instance(None, "tsplib", "kroA100.tsp")
    assert shipped is not None and shipped.parent.name == "data"
    (tmp_path / "tsplib").mkdir()
    own = tmp_path / "tsplib" / "kroA100.tsp"
    own.write_bytes(shipped.read_bytes())
    assert _instance(tmp_path, "tsplib", "kroA100.tsp") == own
    assert _instance(None, "gset", "G1.txt") is None  # not shipped: the table skips it
    assert _instance(None, "gset", "G11.txt") is not None


def _npz(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _hostile_files(tmp_path):
    """Inputs of a hostile-input probe of the command line that gave tracebacks."""
    good = _npz(tmp_path, "good.npz", Q=np.ones((3, 3)))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"x")
    far = tmp_path / "far.txt"
    far.write_text("0 10000000000000 1.0\n")
    gset = tmp_path / "huge.txt"
    gset.write_text("1000000000000 0\n")
    return {
        "complex": (
            ["solve", "qubo", _npz(tmp_path, "c.npz", Q=np.ones((2, 2)) * 1j)],
            "square real matrix",
        ),
        "string": (
            ["solve", "qubo", _npz(tmp_path, "s.npz", Q=np.array([["a"]]))],
            "square real matrix",
        ),
        "offset": (
            [
                "solve",
                "qubo",
                _npz(tmp_path, "o.npz", Q=np.ones((2, 2)), offset=np.ones(3)),
            ],
            "offset must be one real number",
        ),
        "truncated": (["solve", "qubo", truncated], "not a readable .npz"),
        "junk": (["solve", "qubo", junk], "not a readable .npz"),
        "far index": (["solve", "qubo", far], "needs about"),
        "huge gset": (["solve", "maxcut", gset], "needs about"),
        "chains": (
            ["solve", "tsp", DATA / "eil51.tsp", "--chains", "1000000000000"],
            "needs about",
        ),
        "dim": (
            ["solve", "continuous", "sphere", "--dim", "10000000000000"],
            "needs about",
        ),
        "optimum": (
            ["solve", "tsp", DATA / "eil51.tsp", "--optimum", "nan", "--json"],
            "--optimum",
        ),
        "infinite time": (
            ["solve", "tsp", DATA / "eil51.tsp", "--time-limit", "inf"],
            "--time-limit",
        ),
    }


def test_hostile_inputs_are_one_line_and_exit_code_2(tmp_path):
    for name, (args, words) in _hostile_files(tmp_path).items():
        done = run_cli(*args)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, name
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (name, done.stderr)


def test_huge_thread_count_and_strict_json():
    done = run_cli(
        "solve",
        "tsp",
        DATA / "eil51.tsp",
        "--threads",
        "100000",
        "--time-limit",
        "0.3",
        "--json",
    )
    assert done.returncode == 0, done.stderr  # exited 139 before
    report = json.loads(done.stdout, parse_constant=lambda token: 1 / 0)
    assert report["threads"] <= 4 * (os.cpu_count() or 1)
    # Non-finite numbers become null, never the NaN token that JSON lacks.
    done = run_cli(
        "solve", "continuous", "sphere", "--dim", "2", "--json", "--time-limit", "0.2"
    )
    json.loads(done.stdout, parse_constant=lambda token: 1 / 0)


def test_ctrl_c_prints_the_best_so_far():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # (a child started in the background may inherit SIGINT ignored)
            "import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from attnsearch.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))",
            "solve",
            "tsp",
            str(DATA / "a280.tsp"),
            "--time-limit",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "tour length" in out and "interrupted" in out


def test_ctrl_c_during_minimizes_default_prints_the_best_so_far():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from attnsearch.__main__ import main\n"
            "sys.exit(main(sys.argv[1:]))",
            "solve",
            "continuous",
            "rastrigin",
            "--dim",
            "60",
            # a limit far beyond the interrupt: the default budget of evaluations
            # alone can finish within the sleep on a fast, quiet machine
            "--time-limit",
            "600",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    report = json.loads(out)
    assert report["stop_reason"] == "interrupted" and len(report["best_state"]) == 60
    assert report["n_evaluations"] > 0
