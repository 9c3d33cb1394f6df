/* Element-wise steps and packings of the fused attention backward pass.
 *
 * The backward kernel (src/attnsearch/attention/_backward.pyx) works on
 * transposed tiles: rows are keys, columns are queries. Its five products are
 * the micro-kernels of attnsearch_tiles.h (qk_tile for S^T = K Q^T and
 * dP^T = V dO^T, pv_tile for dV += P^T dO, dK += dS^T Q and dQ^T += K^T dS^T);
 * this header adds only what lies between them:
 *
 *   probs_t    P^T = exp((S^T - shift[col]) - log_sum[col])  (per query = column)
 *   dscores_t  dS^T = P^T * (dP^T - D[col])         (D = rowsum(dO * O))
 *   pack_kt    scale * K_blk^T, feature-major, for dQ^T += K^T dS^T
 *   row_dot    D[i] = sum_c dO[i][c] * O[i][c], accumulated in double
 *
 * Columns are query slots of a tile: `cols` is a multiple of the vector width
 * (pad queries have lse = +inf, so their P is 0, and D = 0).
 */
#ifndef ATTNSEARCH_BACKWARD_H
#define ATTNSEARCH_BACKWARD_H

#include <stddef.h>
#include <string.h>
#include "attnsearch_simd.h"
#include "attnsearch_exp.h"

#define ATTNSEARCH_BWD_CAT_(a, b) a##_##b
#define ATTNSEARCH_BWD_CAT(a, b) ATTNSEARCH_BWD_CAT_(a, b)
#define ATTNSEARCH_BWD_FN(name) ATTNSEARCH_BWD_CAT(attnsearch_bwd_##name, ATTNSEARCH_BWD_SUFFIX)

#define ATTNSEARCH_BWD_T float
#define ATTNSEARCH_BWD_V attnsearch_vf32
#define ATTNSEARCH_BWD_VL ATTNSEARCH_VL_F32
#define ATTNSEARCH_BWD_SUFFIX f32
#define ATTNSEARCH_BWD_EXP attnsearch_expf
#define ATTNSEARCH_BWD_EXP_VEC attnsearch_expf_vec
#include "attnsearch_backward_impl.h"
#undef ATTNSEARCH_BWD_T
#undef ATTNSEARCH_BWD_V
#undef ATTNSEARCH_BWD_VL
#undef ATTNSEARCH_BWD_SUFFIX
#undef ATTNSEARCH_BWD_EXP
#undef ATTNSEARCH_BWD_EXP_VEC

#define ATTNSEARCH_BWD_T double
#define ATTNSEARCH_BWD_V attnsearch_vf64
#define ATTNSEARCH_BWD_VL ATTNSEARCH_VL_F64
#define ATTNSEARCH_BWD_SUFFIX f64
#define ATTNSEARCH_BWD_EXP attnsearch_exp
#define ATTNSEARCH_BWD_EXP_VEC attnsearch_exp_vec
#include "attnsearch_backward_impl.h"
#undef ATTNSEARCH_BWD_T
#undef ATTNSEARCH_BWD_V
#undef ATTNSEARCH_BWD_VL
#undef ATTNSEARCH_BWD_SUFFIX
#undef ATTNSEARCH_BWD_EXP
#undef ATTNSEARCH_BWD_EXP_VEC

#endif
