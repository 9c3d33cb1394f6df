/* Portable SIMD vocabulary: vector types sized to the ISA the compiler targets.
 *
 * The project builds with -march=native by default, so on an AVX-512 machine
 * the vectors are 64 bytes, on AVX/AVX2 32 bytes and otherwise 16 bytes (SSE2,
 * NEON). GCC/Clang vector extensions turn them into the matching instructions;
 * compilers without them (MSVC) get ATTNSEARCH_HAVE_VECTOR_EXT = 0 and the
 * callers' plain-C branches. */
#ifndef ATTNSEARCH_SIMD_H
#define ATTNSEARCH_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ATTNSEARCH_HAVE_VECTOR_EXT 1
#define ATTNSEARCH_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define ATTNSEARCH_HAVE_VECTOR_EXT 0
#define ATTNSEARCH_ALWAYS_INLINE static inline
#endif

#if defined(__AVX512F__)
#define ATTNSEARCH_VBYTES 64
#define ATTNSEARCH_NUM_VREGS 32
#elif defined(__AVX__)
#define ATTNSEARCH_VBYTES 32
#define ATTNSEARCH_NUM_VREGS 16
#elif defined(__aarch64__)
#define ATTNSEARCH_VBYTES 16
#define ATTNSEARCH_NUM_VREGS 32
#else
#define ATTNSEARCH_VBYTES 16
#define ATTNSEARCH_NUM_VREGS 16
#endif

#define ATTNSEARCH_VL_F32 (ATTNSEARCH_VBYTES / 4)
#define ATTNSEARCH_VL_F64 (ATTNSEARCH_VBYTES / 8)

#if ATTNSEARCH_HAVE_VECTOR_EXT
/* aligned(..) in a typedef lowers the alignment: loads and stores may be unaligned. */
typedef float attnsearch_vf32 __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(4)));
typedef double attnsearch_vf64 __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(8)));
typedef int32_t attnsearch_vi32 __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(4)));
typedef int64_t attnsearch_vi64 __attribute__((vector_size(ATTNSEARCH_VBYTES), aligned(8)));
typedef float attnsearch_vf32_half __attribute__((vector_size(ATTNSEARCH_VBYTES / 2), aligned(4)));

/* Add the lanes of a float vector to a double-vector accumulator pair (float32 sums
 * accumulate in double; one wide 2*VBYTES type made gcc spill it every iteration). */
ATTNSEARCH_ALWAYS_INLINE void attnsearch_accumulate_f32(attnsearch_vf64 *acc_lo,
                                                        attnsearch_vf64 *acc_hi,
                                                        attnsearch_vf32 x)
{
#if defined(__has_builtin) && __has_builtin(__builtin_shufflevector) && ATTNSEARCH_VBYTES == 64
    attnsearch_vf32_half lo = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    attnsearch_vf32_half hi = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
#elif defined(__has_builtin) && __has_builtin(__builtin_shufflevector) && ATTNSEARCH_VBYTES == 32
    attnsearch_vf32_half lo = __builtin_shufflevector(x, x, 0, 1, 2, 3);
    attnsearch_vf32_half hi = __builtin_shufflevector(x, x, 4, 5, 6, 7);
#elif defined(__has_builtin) && __has_builtin(__builtin_shufflevector) && ATTNSEARCH_VBYTES == 16
    attnsearch_vf32_half lo = __builtin_shufflevector(x, x, 0, 1);
    attnsearch_vf32_half hi = __builtin_shufflevector(x, x, 2, 3);
#else
    attnsearch_vf32_half lo, hi;
    memcpy(&lo, &x, sizeof lo);
    memcpy(&hi, (const char *)&x + sizeof lo, sizeof hi);
#endif
    *acc_lo += __builtin_convertvector(lo, attnsearch_vf64);
    *acc_hi += __builtin_convertvector(hi, attnsearch_vf64);
}

ATTNSEARCH_ALWAYS_INLINE void attnsearch_accumulate_f64(attnsearch_vf64 *acc_lo,
                                                        attnsearch_vf64 *acc_hi,
                                                        attnsearch_vf64 x)
{
    (void)acc_hi;
    *acc_lo += x;
}

/* mask ? a : b, lane by lane (mask lanes are all-ones or all-zeros). */
ATTNSEARCH_ALWAYS_INLINE attnsearch_vf32 attnsearch_select_f32(attnsearch_vi32 mask,
                                                               attnsearch_vf32 a,
                                                               attnsearch_vf32 b)
{
    return (attnsearch_vf32)((mask & (attnsearch_vi32)a) | (~mask & (attnsearch_vi32)b));
}

ATTNSEARCH_ALWAYS_INLINE attnsearch_vf64 attnsearch_select_f64(attnsearch_vi64 mask,
                                                               attnsearch_vf64 a,
                                                               attnsearch_vf64 b)
{
    return (attnsearch_vf64)((mask & (attnsearch_vi64)a) | (~mask & (attnsearch_vi64)b));
}
#endif

#endif
