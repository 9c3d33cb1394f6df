"""The AMX-BF16 path of the attention family: the forward and the bfloat16 GEMM
on AMX tiles (csrc/attnsearch_amx.h).

Every test runs twice: on ``amx_bf16_emulated``, the same driver and tile
loops with the six tile instructions emulated in C (any machine with
AVX512-BF16), and on ``amx_bf16``, the real instructions, skipped where the
CPU (or the OS) does not grant AMX. The bfloat16 tests of
test_reduced_precision.py are reused as they are (same inputs, same bounds
against the float64 reference); the tests below add the edges of the tiles
(rows, pairs and columns that do not fill a tile), the order of the sums, the
agreement with the vdpbf16ps variant, and the configuration discipline (one
tile configuration per thread per call, each released; no operation the
hardware would refuse).
"""

import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_reduced_precision import (
    BF16,
    _qkv,
    _wide,
    test_additive_float32_mask_and_weights,
    test_bfloat16_gemm_refuses_what_does_not_fit,
    test_bfloat16_projection_gemm_matches_reference,
    test_forward_matches_float64_reference,
    test_masks_windows_alibi_gqa_and_fully_masked_rows,
    test_multihead_layer_is_the_float32_layer_on_16_bit_values,
    test_same_bits_for_every_thread_count,
)

from attnsearch import _dispatch
from attnsearch.attention import _reference, scaled_dot_product_attention

__all__ = [
    "test_additive_float32_mask_and_weights",
    "test_bfloat16_gemm_refuses_what_does_not_fit",
    "test_bfloat16_projection_gemm_matches_reference",
    "test_forward_matches_float64_reference",
    "test_masks_windows_alibi_gqa_and_fully_masked_rows",
    "test_multihead_layer_is_the_float32_layer_on_16_bit_values",
    "test_same_bits_for_every_thread_count",
]

AMX_TARGETS = ["amx_bf16_emulated", "amx_bf16"]

pytestmark = pytest.mark.usefixtures("amx_target")


def _unavailable(target):
    """Why ``target`` cannot run here, or None."""
    if target not in _dispatch.built_targets("attention"):
        return f"this build has no {target} variant of the attention kernels"
    if target not in _dispatch.supported_targets():
        missing = ", ".join(_dispatch._missing_features(target))
        return f"this CPU/OS cannot execute {target} (missing: {missing})"
    return None


@pytest.fixture(params=AMX_TARGETS)
def amx_target(request):
    """Run the test on the AMX kernels; afterwards, check that the emulation
    saw no faulting operation and that every tile configuration was released."""
    reason = _unavailable(request.param)
    if reason:
        pytest.skip(reason)
    with _dispatch.use_target(request.param):
        kernels = _dispatch.kernels("attention")
        assert kernels.AMX_TILES == (
            "emulated" if request.param == "amx_bf16_emulated" else "hardware"
        )
        before = kernels.amx_emulation_counters()
        yield request.param
        after = kernels.amx_emulation_counters()
    expected = getattr(request.node, "amx_faults_expected", 0)
    assert after["faults"] - before["faults"] == expected
    assert (
        after["configs"] - before["configs"] == after["releases"] - before["releases"]
    )


def _tile_calls():
    """Tile configurations loaded so far (-1 on hardware, which keeps no count)."""
    return _dispatch.kernels("attention").amx_emulation_counters()["configs"]


# Shapes at the tiles' edges: rows past a 16/32-row block (n_q), pair counts
# past 16 (d_k 33: 17 pairs, an odd dimension; 66: 33 pairs), value columns of
# one, two and three 16-column tiles (d_v 8, 32, 48), key blocks not a
# multiple of the 32-key panels.
EDGE_SHAPES = [
    (17, 40, 33, 8),
    (33, 100, 66, 48),
    (70, 129, 32, 32),
    (96, 300, 64, 64),
]


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", EDGE_SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_tile_edges_match_float64_reference(
    rng, amx_target, n_q, n_k, d_k, d_v, causal
):
    q = rng.standard_normal((2, 2, n_q, d_k)).astype(BF16)
    k = rng.standard_normal((2, 2, n_k, d_k)).astype(BF16)
    v = rng.standard_normal((2, 2, n_k, d_v)).astype(BF16)
    calls = _tile_calls()
    out, lse = scaled_dot_product_attention(q, k, v, causal=causal, return_lse=True)
    if calls >= 0:
        assert _tile_calls() > calls, "the AMX tiles did not run"
    want, want_lse = _reference.scaled_dot_product_attention(
        *_wide(q, k, v), causal=causal, return_lse=True
    )
    assert np.abs(out.astype(np.float64) - want).max() <= 1.6e-2 * np.abs(want).max()
    np.testing.assert_allclose(lse, want_lse, rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize("n_q, n_k, d_k, d_v", EDGE_SHAPES)
def test_agrees_with_the_vdpbf16ps_variant(rng, amx_target, n_q, n_k, d_k, d_v):
    if "avx512_bf16" not in _dispatch.supported_targets():
        pytest.skip("this CPU has no AVX512-BF16")
    q = rng.standard_normal((1, 3, n_q, d_k)).astype(BF16)
    k = rng.standard_normal((1, 3, n_k, d_k)).astype(BF16)
    v = rng.standard_normal((1, 3, n_k, d_v)).astype(BF16)
    amx = scaled_dot_product_attention(q, k, v, causal=True).astype(np.float64)
    with _dispatch.use_target("avx512_bf16"):
        vdp = scaled_dot_product_attention(q, k, v, causal=True).astype(np.float64)
    # The float32 sums differ in order (vdpbf16ps adds the odd product of a
    # pair first, TDPBF16PS the even one), so a few scores, hence a few P
    # rounded to bfloat16, and a few outputs fall on the neighbouring
    # bfloat16: almost all bits agree, the rest by far less than the error
    # against float64 (measured: 1.6e-4 of max |out| at n 512, d 64).
    assert np.abs(amx - vdp).max() <= 2**-8 * np.abs(vdp).max()
    assert np.mean(amx == vdp) > 0.99


@pytest.mark.parametrize("n, n_in, n_out", [(1, 2, 1), (17, 34, 40), (45, 96, 70)])
def test_gemm_sums_the_pairs_in_the_order_of_tdpbf16ps(rng, amx_target, n, n_in, n_out):
    if amx_target != "amx_bf16_emulated":
        pytest.skip("the hardware's rounding is what it is; this pins the emulation")
    kernels = _dispatch.kernels("attention")
    x = rng.standard_normal((n, n_in)).astype(BF16)
    w = rng.standard_normal((n_in, n_out)).astype(BF16)
    bias = rng.standard_normal(n_out).astype(np.float32)
    out = np.empty((n, n_out), BF16)
    packed = kernels.bf16_pack_weight(w.view(np.uint16))
    kernels.bf16_linear(x.view(np.uint16), packed, n_out, bias, out.view(np.uint16), 2)
    # The SDM's order: for each pair in turn, the even product then the odd one,
    # each added with one float32 rounding (a bfloat16 product is exact in
    # float32); then the bias, then one rounding to bfloat16.
    acc = np.zeros((n, n_out), np.float32)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    for p in range(n_in):
        acc = acc + x32[:, p : p + 1] * w32[p]
    want = (acc + bias).astype(BF16)
    assert np.array_equal(out.view(np.uint16), want.view(np.uint16))


def test_one_tile_configuration_per_thread_and_call(rng, amx_target):
    if amx_target != "amx_bf16_emulated":
        pytest.skip("the hardware keeps no count of its configurations")
    kernels = _dispatch.kernels("attention")
    q, k, v = _qkv(rng, BF16, (4, 2, 64, 32), (4, 2, 64, 32))
    for threads in (1, 2):
        before = kernels.amx_emulation_counters()
        scaled_dot_product_attention(q, k, v, num_threads=threads)
        after = kernels.amx_emulation_counters()
        configs = after["configs"] - before["configs"]
        assert 1 <= configs <= threads
        assert after["releases"] - before["releases"] == configs


def test_the_emulation_counts_what_the_hardware_refuses(request, amx_target):
    if amx_target != "amx_bf16_emulated":
        pytest.skip("only the emulation counts faults")
    kernels = _dispatch.kernels("attention")
    before = kernels.amx_emulation_counters()["faults"]
    expected = kernels._amx_fault_probe()
    assert expected == 2
    assert kernels.amx_emulation_counters()["faults"] - before == expected
    request.node.amx_faults_expected = expected  # for the fixture's check


ROOT = Path(__file__).resolve().parents[2]


def test_tile_loop_stays_inside_its_operands_under_address_sanitizer(
    amx_target, tmp_path
):
    """amx_gemm_check.c.in: the tile loop of attnsearch_amx.h on the emulation,
    over edge shapes, with every operand its own exact-size allocation."""
    if amx_target != "amx_bf16_emulated":
        pytest.skip("a check of the C source on the emulation")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("needs a C compiler for x86-64")
    exe = tmp_path / "amx_gemm_check"
    build = subprocess.run(
        [compiler, "-O1", "-g", "-fsanitize=address", "-march=x86-64-v4",
         "-mavx512bf16", "-DATTNSEARCH_AMX_EMULATED=1", f"-I{ROOT / 'csrc'}", "-x", "c",
         str(ROOT / "tests" / "attention" / "amx_gemm_check.c.in"), "-o", str(exe)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if build.returncode != 0:
        pytest.skip(
            f"the compiler cannot build it with AddressSanitizer: {build.stderr[-300:]}"
        )
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed, 0 faults, 1 configs, 1 releases" in done.stdout
