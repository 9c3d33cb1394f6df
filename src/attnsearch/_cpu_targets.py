"""The CPU targets the kernels are compiled for: compiler flags and run-time needs.

One list read by two readers: ``setup.py`` (which flags build each target's
variant of a kernel family) and :mod:`attnsearch._dispatch` (which features the
running CPU must have for a variant to be loaded). Plain data and no imports, so
that the build can read it before the package exists.

A *family* is one compiled module whose hot loops depend on the instruction
set (the attention forward, the decode kernel, ...). Each family is built once
per target in its list: the canonical module (``_kernels``) for the baseline and
one extra module per further target (``_kernels_avx2``, ``_kernels_avx512``),
all from the same generated C file. The dispatch loads, once at import, the
best variant the CPU can execute. Families list only the targets where their
code differs: float32/float64 code compiled with the reduced-precision flags
(AVX512-BF16, AVX512-FP16, AMX) emits the same instructions as plain AVX-512,
so those targets join the families that have bf16/f16 kernels.
"""

from __future__ import annotations

# x86-64 micro-architecture levels, as gcc/clang's -march=x86-64-v2/v3/v4 and
# the psABI define them: what a variant built with those flags may execute.
X86_64_V2 = ("sse2", "sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lahf_lm")
X86_64_V3 = X86_64_V2 + (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi1",
    "bmi2",
    "lzcnt",
    "movbe",
    "xsave",
    "os_avx",
)
X86_64_V4 = X86_64_V3 + (
    "avx512f",
    "avx512cd",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "os_avx512",
)

# The same levels spelt out for compilers that do not know the names.
_V3_FLAGS = (
    "-march=x86-64", "-mtune=generic", "-msse3", "-mssse3", "-msse4.1", "-msse4.2",
    "-mpopcnt", "-mcx16", "-msahf", "-mavx", "-mavx2", "-mfma", "-mf16c", "-mbmi",
    "-mbmi2", "-mlzcnt", "-mmovbe", "-mxsave",
)  # fmt: skip
_V4_FLAGS = _V3_FLAGS + (
    "-mavx512f",
    "-mavx512cd",
    "-mavx512bw",
    "-mavx512dq",
    "-mavx512vl",
)

#: Targets from the lowest to the highest. ``requires``: the CPU features a
#: variant needs at run time; ``flags``: alternative flag sets for gcc/clang,
#: the first the compiler accepts is used (named levels need gcc >= 11 or
#: clang >= 12; the explicit lists serve older compilers); ``probe``: C code the
#: compiler and assembler must build with those flags for the target to be built
#: (an old binutils may accept -mavx512bf16 and then fail to assemble it);
#: ``automatic`` (default True): False keeps the dispatch from choosing the
#: target unless it is the one forced (ATTNSEARCH_CPU_TARGET, use_target).
TARGETS: dict[str, dict] = {
    "baseline": {
        "requires": ("sse2",),
        "flags": (("-march=x86-64", "-mtune=generic"),),
        "probe": "#include <emmintrin.h>\n"
        "int probe(double *x) { return _mm_cvtsd_si32(_mm_loadu_pd(x)); }\n",
        "summary": "x86-64 baseline: SSE2, 16-byte vectors, runs on every x86-64 CPU",
    },
    "avx2": {
        "requires": X86_64_V3,
        "flags": (("-march=x86-64-v3", "-mtune=generic"), _V3_FLAGS),
        "probe": "#include <immintrin.h>\n"
        "void probe(float *x) { __m256 v = _mm256_loadu_ps(x);\n"
        "  _mm256_storeu_ps(x, _mm256_fmadd_ps(v, v, v)); }\n",
        "summary": "x86-64-v3: AVX2 + FMA + F16C, 32-byte vectors (Haswell, Zen 1)",
    },
    "avx512": {
        "requires": X86_64_V4,
        "flags": (("-march=x86-64-v4", "-mtune=generic"), _V4_FLAGS),
        "probe": "#include <immintrin.h>\n"
        "void probe(float *x) { __m512 v = _mm512_loadu_ps(x);\n"
        "  _mm512_storeu_ps(x, _mm512_fmadd_ps(v, v, v)); }\n",
        "summary": "x86-64-v4: AVX-512 F/CD/BW/DQ/VL, 64-byte vectors (Skylake-X)",
    },
    # The decode family's int8 scores by vpdpbusd (csrc/attnsearch_decode.h);
    # every other family's code is plain AVX-512 with these flags. The targets
    # above need AVX512-VNNI too (every CPU with AVX512-BF16 has it), so that
    # each target needs what the one below it needs.
    "avx512_vnni": {
        "requires": X86_64_V4 + ("avx512_vnni",),
        "flags": (("-march=x86-64-v4", "-mtune=generic", "-mavx512vnni"),),
        "probe": "#include <immintrin.h>\n"
        "void probe(int *x) { __m512i v = _mm512_loadu_si512(x);\n"
        "  _mm512_storeu_si512(x, _mm512_dpbusd_epi32(v, v, v)); }\n",
        "summary": "AVX-512 + AVX512-VNNI (vpdpbusd; Cascade Lake, Ice Lake, Zen 4)",
    },
    "avx512_bf16": {
        "requires": X86_64_V4 + ("avx512_vnni", "avx512_bf16"),
        "flags": (("-march=x86-64-v4", "-mtune=generic", "-mavx512bf16"),),
        "probe": "#include <immintrin.h>\n"
        "void probe(float *x) { __m512 v = _mm512_loadu_ps(x);\n"
        "  __m512bh b = _mm512_cvtne2ps_pbh(v, v);\n"
        "  _mm512_storeu_ps(x, _mm512_dpbf16_ps(v, b, b)); }\n",
        "summary": "AVX-512 + AVX512-BF16 (vdpbf16ps; Cooper Lake, Zen 4)",
    },
    # The amx_bf16 kernels with the tile instructions emulated in C
    # (csrc/attnsearch_amx.h), so that the AMX driver runs in the tests of any
    # AVX512-BF16 machine. Never chosen by the dispatch (``automatic``), only
    # when forced with ATTNSEARCH_CPU_TARGET or use_target(): it is slow.
    "amx_bf16_emulated": {
        "requires": X86_64_V4 + ("avx512_vnni", "avx512_bf16"),
        "flags": (
            (
                "-march=x86-64-v4",
                "-mtune=generic",
                "-mavx512bf16",
                "-DATTNSEARCH_AMX_EMULATED=1",
            ),
        ),
        "probe": "#include <immintrin.h>\n"
        "void probe(float *x) { __m512 v = _mm512_loadu_ps(x);\n"
        "  __m512bh b = _mm512_cvtne2ps_pbh(v, v);\n"
        "  _mm512_storeu_ps(x, _mm512_dpbf16_ps(v, b, b)); }\n",
        "automatic": False,
        "summary": "the amx_bf16 kernels on a C emulation of the tiles "
        "(tests only; chosen only when forced)",
    },
    "avx512_fp16": {
        "requires": X86_64_V4 + ("avx512_vnni", "avx512_bf16", "avx512_fp16"),
        "flags": (
            ("-march=x86-64-v4", "-mtune=generic", "-mavx512bf16", "-mavx512fp16"),
        ),
        "probe": "#include <immintrin.h>\n"
        "void probe(_Float16 *x) { __m512h v = _mm512_loadu_ph(x);\n"
        "  _mm512_storeu_ph(x, _mm512_fmadd_ph(v, v, v)); }\n",
        "summary": "AVX-512 + BF16 + FP16 arithmetic (Sapphire Rapids)",
    },
    "amx_bf16": {
        "requires": X86_64_V4
        + (
            "avx512_vnni",
            "avx512_bf16",
            "avx512_fp16",
            "amx_tile",
            "amx_bf16",
            "os_amx",
            "amx_permission",
        ),
        "flags": (
            (
                "-march=x86-64-v4",
                "-mtune=generic",
                "-mavx512bf16",
                "-mavx512fp16",
                "-mamx-tile",
                "-mamx-bf16",
            ),
        ),
        "probe": "#include <immintrin.h>\n"
        "void probe(float *c, void *a, void *b) { _tile_zero(0);\n"
        "  _tile_loadd(1, a, 64); _tile_loadd(2, b, 64); _tile_dpbf16ps(0, 1, 2);\n"
        "  _tile_stored(0, c, 64); _tile_release(); }\n",
        "summary": "AVX-512 + AMX-BF16 tiles (Sapphire Rapids, Granite Rapids)",
    },
}

#: Targets of the float32/float64 kernels (vector width and FMA change there).
VECTOR_TARGETS = ("baseline", "avx2", "avx512")

#: Kernel families: the compiled module, the targets it is built for, what it holds.
#: The search families (engine, swarm, functions) must share one target list: the
#: engine's Python reference evaluates built-in functions through `functions`,
#: and the two agree bit for bit only when compiled alike.
FAMILIES: dict[str, dict] = {
    "attention": {
        "module": "attnsearch.attention._kernels",
        "targets": VECTOR_TARGETS + ("avx512_bf16", "amx_bf16_emulated", "amx_bf16"),
        "summary": "fused attention forward and bfloat16 GEMM (bfloat16 tiles on "
        "AVX512-BF16 and AMX)",
    },
    "decode": {
        "module": "attnsearch.attention._decode",
        "targets": VECTOR_TARGETS + ("avx512_vnni",),
        "summary": "decode attention (split-KV; int8 scores by vpdpbusd with VNNI)",
    },
    "backward": {
        "module": "attnsearch.attention._backward",
        "targets": VECTOR_TARGETS + ("avx512_bf16",),
        "summary": "fused attention backward (bfloat16 tiles on AVX512-BF16)",
    },
    "linear": {
        "module": "attnsearch.attention._linear",
        "targets": VECTOR_TARGETS,
        "summary": "the layers' linear maps and their gradients",
    },
    "scans": {
        "module": "attnsearch.attention._scans",
        "targets": VECTOR_TARGETS,
        "summary": "threaded finiteness and magnitude checks",
    },
    "exp": {
        "module": "attnsearch._fastexp",
        "targets": VECTOR_TARGETS,
        "summary": "vectorised exp (test access)",
    },
    "search": {
        "module": "attnsearch.search._engine",
        "targets": VECTOR_TARGETS,
        "summary": "local-search engine (every method but the swarm)",
    },
    "swarm": {
        "module": "attnsearch.search.methods._swarm",
        "targets": VECTOR_TARGETS,
        "summary": "particle swarm",
    },
    "functions": {
        "module": "attnsearch.search.problems.continuous._functions",
        "targets": VECTOR_TARGETS,
        "summary": "built-in continuous test functions",
    },
}


def variant_module(module: str, target: str) -> str:
    """Import name of ``module`` compiled for ``target`` (baseline: ``module``)."""
    return module if target == "baseline" else f"{module}_{target}"
