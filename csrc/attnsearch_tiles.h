/* Register-blocked micro-kernels for the fused attention tile loop.
 *
 * Why not BLAS: the two products of a flash-attention tile are small and
 * oddly shaped (S = Q_blk K_blk^T has an inner dimension of d = 64; O += P V_blk
 * has 64 output columns). OpenBLAS re-packs both operands on every call and
 * reaches 43 GFLOP/s on the first product (256x512x64, one core), a quarter of
 * its large-GEMM speed (measured, see ARCHITECTURE.md). Here K and V are packed
 * once per key block and reused by every row tile, Q is packed once per query
 * block (with the softmax scale folded in), and the online-softmax rescale of
 * the output accumulator is fused into the second product.
 *
 * Portable vector code: GCC/Clang vector extensions, sized to the widest ISA the
 * compiler targets (-march=native at build time). A plain-C fallback is used by
 * compilers without vector extensions (MSVC).
 *
 * Layouts (T = float or double, VL = lanes per vector, NR = 2 * VL keys/panel):
 *   qpack  rows_pad x d_k, row-major, already multiplied by the scale;
 *          rows_pad is a multiple of ATTNSEARCH_ROW_ALIGN, pad rows are 0.
 *   kpack  panels of NR keys: kpack[p][d][t] = K[p*NR + t][d], pad keys are 0.
 *   vpack  bk x dvp, row-major, dvp = d_v rounded up to VL, pad columns 0.
 *   s      rows_pad x lds scores / probabilities (lds >= n_panels * NR).
 *   o      rows_pad x dvp output accumulator.
 */
#ifndef ATTNSEARCH_TILES_H
#define ATTNSEARCH_TILES_H

#include <stddef.h>
#include <string.h>
#include "attnsearch_simd.h"
#include "attnsearch_exp.h"

#if ATTNSEARCH_NUM_VREGS >= 32
#define ATTNSEARCH_QK_MR 12  /* 12 x 2 accumulators of 32 registers */
#define ATTNSEARCH_PV_MR 6   /* 6 x 4 accumulators */
#else
#define ATTNSEARCH_QK_MR 6   /* 6 x 2 accumulators of 16 registers */
#define ATTNSEARCH_PV_MR 3   /* 3 x 4 accumulators */
#endif
/* Query blocks are padded to a multiple of this many rows. */
#define ATTNSEARCH_ROW_ALIGN ATTNSEARCH_QK_MR
#define ATTNSEARCH_PV_MAX_NV 4
/* Scratch buffers are aligned to this many bytes. */
#define ATTNSEARCH_ALIGN 64
/* Keys per packed panel, for each dtype. */
#define ATTNSEARCH_NR_F32 (2 * ATTNSEARCH_VL_F32)
#define ATTNSEARCH_NR_F64 (2 * ATTNSEARCH_VL_F64)

/* ---- the dtype template, instantiated below for float and double ---- */

#define ATTNSEARCH_CAT_(a, b) a##_##b
#define ATTNSEARCH_CAT(a, b) ATTNSEARCH_CAT_(a, b)
#define ATTNSEARCH_FN(name) ATTNSEARCH_CAT(attnsearch_##name, ATTNSEARCH_SUFFIX)

#define ATTNSEARCH_T float
#define ATTNSEARCH_V attnsearch_vf32
#define ATTNSEARCH_SUFFIX f32
#define ATTNSEARCH_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_EXPFN attnsearch_expf
#define ATTNSEARCH_EXPFN_VEC attnsearch_expf_vec
#define ATTNSEARCH_EXPFN_VEC_NONPOS attnsearch_expf_vec_nonpos
#define ATTNSEARCH_VI attnsearch_vi32
#define ATTNSEARCH_ACCUMULATE attnsearch_accumulate_f32
#define ATTNSEARCH_SELECT attnsearch_select_f32
#include "attnsearch_tiles_impl.h"
#undef ATTNSEARCH_T
#undef ATTNSEARCH_V
#undef ATTNSEARCH_SUFFIX
#undef ATTNSEARCH_VL
#undef ATTNSEARCH_EXPFN
#undef ATTNSEARCH_EXPFN_VEC
#undef ATTNSEARCH_EXPFN_VEC_NONPOS
#undef ATTNSEARCH_VI
#undef ATTNSEARCH_ACCUMULATE
#undef ATTNSEARCH_SELECT

#define ATTNSEARCH_T double
#define ATTNSEARCH_V attnsearch_vf64
#define ATTNSEARCH_SUFFIX f64
#define ATTNSEARCH_VL ATTNSEARCH_VL_F64
#define ATTNSEARCH_EXPFN attnsearch_exp
#define ATTNSEARCH_EXPFN_VEC attnsearch_exp_vec
#define ATTNSEARCH_EXPFN_VEC_NONPOS attnsearch_exp_vec_nonpos
#define ATTNSEARCH_VI attnsearch_vi64
#define ATTNSEARCH_ACCUMULATE attnsearch_accumulate_f64
#define ATTNSEARCH_SELECT attnsearch_select_f64
#include "attnsearch_tiles_impl.h"
#undef ATTNSEARCH_T
#undef ATTNSEARCH_V
#undef ATTNSEARCH_SUFFIX
#undef ATTNSEARCH_VL
#undef ATTNSEARCH_EXPFN
#undef ATTNSEARCH_EXPFN_VEC
#undef ATTNSEARCH_EXPFN_VEC_NONPOS
#undef ATTNSEARCH_VI
#undef ATTNSEARCH_ACCUMULATE
#undef ATTNSEARCH_SELECT

#endif
