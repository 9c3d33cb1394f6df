/* Continuous benchmark functions for the search kernels (local search and PSO).
 *
 * attnsearch_function_value(f, x, dim, sub_index, sub_value) evaluates function
 * f at x with coordinate sub_index replaced by sub_value (sub_index = -1: x as
 * is), so a single-coordinate move is evaluated without copying the point.
 * Definitions, domains and minima follow the Virtual Library of Simulation
 * Experiments (Surjanovic & Bingham, sfu.ca/~ssurjano); tests/test_search_
 * continuous.py checks each against a NumPy reference and its known minimum.
 *
 * cos uses attnsearch_cos: three-part Cody-Waite reduction by 2*pi and a
 * Taylor polynomial in r^2, branch-free and vectorisable; absolute error below
 * 2e-15 for |x| < 1e6 (measured 1.0e-15; tested against np.cos), which covers
 * Rastrigin, Ackley and Griewank on their domains. Beyond the reduction's range
 * (|x| >= ATTNSEARCH_COS_REDUCED_LIMIT, or not finite) libm's cos answers, so a
 * user's bounds of 1e16 give true cosines, not a polynomial of a garbage
 * remainder. sin, sqrt and exp: libm.
 */
#ifndef ATTNSEARCH_TESTFUNCS_H
#define ATTNSEARCH_TESTFUNCS_H

#include <math.h>
#include <stdint.h>

enum {
    ATTNSEARCH_FN_SPHERE = 0,
    ATTNSEARCH_FN_RASTRIGIN = 1,
    ATTNSEARCH_FN_ROSENBROCK = 2,
    ATTNSEARCH_FN_ACKLEY = 3,
    ATTNSEARCH_FN_GRIEWANK = 4,
    ATTNSEARCH_FN_SCHWEFEL = 5,
    ATTNSEARCH_FN_STYBLINSKI_TANG = 6,
    ATTNSEARCH_FN_LEVY = 7
};

/* 2 pi in three parts (Cephes' pi/4 split times 8): k * part is exact for
 * |k| < 2^29, so the reduction keeps full accuracy for |x| < 3e9. */
#define ATTNSEARCH_TWO_PI_1 6.28318500518798828125
#define ATTNSEARCH_TWO_PI_2 3.01991576634463854134e-7
#define ATTNSEARCH_TWO_PI_3 2.15612114326324762116e-14

/* Fused multiply-add where the target has it (one rounding, faster); the search
 * kernels are built with -ffp-contract=off, so this is the only fusion there and
 * the Python reference calls the same compiled functions. */
#if defined(__FMA__) || defined(__aarch64__)
#define ATTNSEARCH_FMA(a, b, c) __builtin_fma((a), (b), (c))
#else
#define ATTNSEARCH_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* The reduction's k is exact below 2^29, i.e. |x| < 3.3e9. */
#define ATTNSEARCH_COS_REDUCED_LIMIT 1e9

static inline double attnsearch_cos_reduced(double x)
{
    /* k = nearest integer to x / (2 pi), by the 1.5 * 2^52 rounding trick. */
    double k = x * 0.15915494309189533577 + 6755399441055744.0;
    k -= 6755399441055744.0;
    double r = ((x - k * ATTNSEARCH_TWO_PI_1) - k * ATTNSEARCH_TWO_PI_2) -
               k * ATTNSEARCH_TWO_PI_3;
    double r2 = r * r;
    /* cos r = sum_j (-1)^j r^(2j) / (2j)!, j <= 16: exact to 1e-19 on |r| <= pi. */
    double p = 1.0 / 263130836933693530167218012160000000.0; /* 1/32! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 265252859812191058636308480000000.0);  /* 1/30! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 304888344611713860501504000000.0);     /* 1/28! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 403291461126605635584000000.0);        /* 1/26! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 620448401733239439360000.0);           /* 1/24! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 1124000727777607680000.0);             /* 1/22! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 2432902008176640000.0);                /* 1/20! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 6402373705728000.0);                   /* 1/18! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 20922789888000.0);                     /* 1/16! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 87178291200.0);                        /* 1/14! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 479001600.0);                          /* 1/12! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 3628800.0);                            /* 1/10! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 40320.0);                              /* 1/8! */
    p = ATTNSEARCH_FMA(p, r2, -1.0 / 720.0);                                /* 1/6! */
    p = ATTNSEARCH_FMA(p, r2, 1.0 / 24.0);                                 /* 1/4! */
    p = ATTNSEARCH_FMA(p, r2, -0.5);                                        /* 1/2! */
    return ATTNSEARCH_FMA(p, r2, 1.0);
}

static inline double attnsearch_cos(double x)
{
    return fabs(x) < ATTNSEARCH_COS_REDUCED_LIMIT ? attnsearch_cos_reduced(x) : cos(x);
}

/* c[j] = attnsearch_cos(a[j]) for j < n, the same bits, with the common case in
 * a branch-free loop the compiler vectorises and libm only for the rare
 * argument beyond the reduction's range. */
static inline void attnsearch_cos_array(const double *a, double *c, int64_t n)
{
    int64_t j, far = 0;
    for (j = 0; j < n; j++) c[j] = attnsearch_cos_reduced(a[j]);
    for (j = 0; j < n; j++) far += !(fabs(a[j]) < ATTNSEARCH_COS_REDUCED_LIMIT);
    if (far)
        for (j = 0; j < n; j++)
            if (!(fabs(a[j]) < ATTNSEARCH_COS_REDUCED_LIMIT)) c[j] = cos(a[j]);
}

/* The body is written once and instantiated twice: with a substituted
 * coordinate (single-coordinate moves of local search) and without (swarms,
 * costs), where the plain x[j] reads let the compiler vectorise the loops. */
#define ATTNSEARCH_X(j) ((j) == sub_index ? sub_value : x[(j)])
#define ATTNSEARCH_FUNCTION_NAME attnsearch_function_value_substituted
#include "attnsearch_testfuncs_body.h"
#undef ATTNSEARCH_FUNCTION_NAME
#undef ATTNSEARCH_X

/* The plain variant computes the cosines of blocks of coordinates first, in
 * elementwise loops the compiler vectorises, then sums in the same order as the
 * substituted variant: both give the same bits at the same point. */
#define ATTNSEARCH_BLOCK 64
#define ATTNSEARCH_BLOCKED
#define ATTNSEARCH_X(j) (x[(j)])
#define ATTNSEARCH_FUNCTION_NAME attnsearch_function_value_plain
#include "attnsearch_testfuncs_body.h"
#undef ATTNSEARCH_FUNCTION_NAME
#undef ATTNSEARCH_X
#undef ATTNSEARCH_BLOCKED

/* sums[i] = t[i * stride] + ... + t[i * stride + len - 1] added in that order
 * (product instead of sum with multiply), four rows at a time: four
 * independent chains of dependent additions keep the adder busy. */
#define ATTNSEARCH_ROW_REDUCE(name, op, start)                                            \
    static inline void name(const double *t, int64_t n_rows, int64_t stride, int64_t len, \
                            double *out)                                                  \
    {                                                                                     \
        int64_t i = 0, j;                                                                 \
        for (; i + 4 <= n_rows; i += 4) {                                                 \
            const double *t0 = t + i * stride, *t1 = t0 + stride, *t2 = t1 + stride,      \
                         *t3 = t2 + stride;                                               \
            double a0 = start, a1 = start, a2 = start, a3 = start;                        \
            for (j = 0; j < len; j++) {                                                   \
                a0 = a0 op t0[j];                                                         \
                a1 = a1 op t1[j];                                                         \
                a2 = a2 op t2[j];                                                         \
                a3 = a3 op t3[j];                                                         \
            }                                                                             \
            out[i] = a0;                                                                  \
            out[i + 1] = a1;                                                              \
            out[i + 2] = a2;                                                              \
            out[i + 3] = a3;                                                              \
        }                                                                                 \
        for (; i < n_rows; i++) {                                                         \
            double a0 = start;                                                            \
            for (j = 0; j < len; j++) a0 = a0 op t[i * stride + j];                       \
            out[i] = a0;                                                                  \
        }                                                                                 \
    }
ATTNSEARCH_ROW_REDUCE(attnsearch_row_sums, +, 0.0)
ATTNSEARCH_ROW_REDUCE(attnsearch_row_products, *, 1.0)
#undef ATTNSEARCH_ROW_REDUCE

/* Function f at each row of the (n_points, dim) row-major block x, into out:
 * the same bits as attnsearch_function_value_plain row by row. The elementwise
 * work of Rastrigin, Ackley, Griewank and Rosenbrock (cosines, squares, terms)
 * runs as flat loops over the whole block, which the compiler vectorises across
 * rows; only the sums over a row's coordinates stay serial, in the original
 * order, four rows at a time. scratch holds 2 * n_points * dim + dim +
 * n_points doubles. The other functions go row by row. */
static inline void attnsearch_function_values_block(int function, const double *x,
                                                    int64_t n_points, int64_t dim,
                                                    double *out, double *scratch)
{
    const double pi = 3.14159265358979323846;
    const int64_t n = n_points * dim;
    double *a = scratch, *c = scratch + n, *roots = scratch + 2 * n;
    double *rows = scratch + 2 * n + dim;
    int64_t i, j, k;
    switch (function) {
    case ATTNSEARCH_FN_RASTRIGIN:
        for (k = 0; k < n; k++) a[k] = 2.0 * pi * x[k];
        attnsearch_cos_array(a, c, n);
        for (k = 0; k < n; k++) c[k] = x[k] * x[k] - 10.0 * c[k];
        attnsearch_row_sums(c, n_points, dim, dim, out);
        for (i = 0; i < n_points; i++) out[i] = 10.0 * (double)dim + out[i];
        return;
    case ATTNSEARCH_FN_ROSENBROCK:
        /* Term k couples x[k] and x[k + 1]; a row's last term (k + 1 in the next
         * row) is computed and never summed. */
        for (k = 0; k + 1 < n; k++) {
            double a_k = x[k + 1] - x[k] * x[k], b_k = 1.0 - x[k];
            c[k] = 100.0 * a_k * a_k + b_k * b_k;
        }
        attnsearch_row_sums(c, n_points, dim, dim - 1, out);
        return;
    case ATTNSEARCH_FN_ACKLEY:
        for (k = 0; k < n; k++) a[k] = 2.0 * pi * x[k];
        attnsearch_cos_array(a, c, n);
        for (k = 0; k < n; k++) a[k] = x[k] * x[k];
        attnsearch_row_sums(a, n_points, dim, dim, rows);
        attnsearch_row_sums(c, n_points, dim, dim, out);
        for (i = 0; i < n_points; i++)
            out[i] = -20.0 * exp(-0.2 * sqrt(rows[i] / (double)dim)) -
                     exp(out[i] / (double)dim) + 20.0 + 2.71828182845904523536;
        return;
    case ATTNSEARCH_FN_GRIEWANK:
        for (j = 0; j < dim; j++) roots[j] = sqrt((double)(j + 1));
        for (i = 0; i < n_points; i++)
            for (j = 0; j < dim; j++) a[i * dim + j] = x[i * dim + j] / roots[j];
        attnsearch_cos_array(a, c, n);
        for (k = 0; k < n; k++) a[k] = x[k] * x[k];
        attnsearch_row_sums(a, n_points, dim, dim, rows);
        attnsearch_row_products(c, n_points, dim, dim, out);
        for (i = 0; i < n_points; i++) out[i] = rows[i] / 4000.0 - out[i] + 1.0;
        return;
    default:
        for (i = 0; i < n_points; i++)
            out[i] = attnsearch_function_value_plain(function, x + i * dim, dim, -1, 0.0);
    }
}

/* Function f at x with coordinate sub_index replaced by sub_value (-1: none). */
static inline double attnsearch_function_value(int function, const double *x, int64_t dim,
                                               int64_t sub_index, double sub_value)
{
    if (sub_index < 0) return attnsearch_function_value_plain(function, x, dim, -1, 0.0);
    return attnsearch_function_value_substituted(function, x, dim, sub_index, sub_value);
}

#endif
