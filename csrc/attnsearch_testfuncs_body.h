/* Template body of attnsearch_testfuncs.h, included once per variant with
 * ATTNSEARCH_X(j) (coordinate j of the point) and ATTNSEARCH_FUNCTION_NAME
 * defined. No include guard on purpose. */

static inline double ATTNSEARCH_FUNCTION_NAME(int function, const double *x, int64_t dim,
                                             int64_t sub_index, double sub_value)
{
    const double pi = 3.14159265358979323846;
    double total = 0.0;
    int64_t j;
    switch (function) {
    case ATTNSEARCH_FN_SPHERE:
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j);
            total += v * v;
        }
        return total;
    case ATTNSEARCH_FN_RASTRIGIN:
#ifdef ATTNSEARCH_BLOCKED
        /* The cosines of a block first (an elementwise loop the compiler
         * vectorises), then the same sum in the same order: the same bits. */
        for (int64_t j0 = 0; j0 < dim; j0 += ATTNSEARCH_BLOCK) {
            int64_t n = dim - j0 < ATTNSEARCH_BLOCK ? dim - j0 : ATTNSEARCH_BLOCK;
            double a[ATTNSEARCH_BLOCK], c[ATTNSEARCH_BLOCK];
            for (j = 0; j < n; j++) a[j] = 2.0 * pi * x[j0 + j];
            attnsearch_cos_array(a, c, n);
            for (j = 0; j < n; j++) {
                double v = x[j0 + j];
                total += v * v - 10.0 * c[j];
            }
        }
#else
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j);
            total += v * v - 10.0 * attnsearch_cos(2.0 * pi * v);
        }
#endif
        return 10.0 * (double)dim + total;
    case ATTNSEARCH_FN_ROSENBROCK:
        for (j = 0; j + 1 < dim; j++) {
            double v = ATTNSEARCH_X(j), next = ATTNSEARCH_X(j + 1);
            double a = next - v * v, b = 1.0 - v;
            total += 100.0 * a * a + b * b;
        }
        return total;
    case ATTNSEARCH_FN_ACKLEY: {
        double squares = 0.0, cosines = 0.0;
#ifdef ATTNSEARCH_BLOCKED
        for (int64_t j0 = 0; j0 < dim; j0 += ATTNSEARCH_BLOCK) {
            int64_t n = dim - j0 < ATTNSEARCH_BLOCK ? dim - j0 : ATTNSEARCH_BLOCK;
            double a[ATTNSEARCH_BLOCK], c[ATTNSEARCH_BLOCK];
            for (j = 0; j < n; j++) a[j] = 2.0 * pi * x[j0 + j];
            attnsearch_cos_array(a, c, n);
            for (j = 0; j < n; j++) {
                double v = x[j0 + j];
                squares += v * v;
                cosines += c[j];
            }
        }
#else
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j);
            squares += v * v;
            cosines += attnsearch_cos(2.0 * pi * v);
        }
#endif
        return -20.0 * exp(-0.2 * sqrt(squares / (double)dim)) -
               exp(cosines / (double)dim) + 20.0 + 2.71828182845904523536;
    }
    case ATTNSEARCH_FN_GRIEWANK: {
        double squares = 0.0, product = 1.0;
#ifdef ATTNSEARCH_BLOCKED
        for (int64_t j0 = 0; j0 < dim; j0 += ATTNSEARCH_BLOCK) {
            int64_t n = dim - j0 < ATTNSEARCH_BLOCK ? dim - j0 : ATTNSEARCH_BLOCK;
            double a[ATTNSEARCH_BLOCK], c[ATTNSEARCH_BLOCK];
            for (j = 0; j < n; j++) a[j] = x[j0 + j] / sqrt((double)(j0 + j + 1));
            attnsearch_cos_array(a, c, n);
            for (j = 0; j < n; j++) {
                double v = x[j0 + j];
                squares += v * v;
                product *= c[j];
            }
        }
#else
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j);
            squares += v * v;
            product *= attnsearch_cos(v / sqrt((double)(j + 1)));
        }
#endif
        return squares / 4000.0 - product + 1.0;
    }
    case ATTNSEARCH_FN_SCHWEFEL:
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j);
            total += v * sin(sqrt(fabs(v)));
        }
        return 418.98288727243369 * (double)dim - total;
    case ATTNSEARCH_FN_STYBLINSKI_TANG:
        for (j = 0; j < dim; j++) {
            double v = ATTNSEARCH_X(j), v2 = v * v;
            total += v2 * v2 - 16.0 * v2 + 5.0 * v;
        }
        return 0.5 * total;
    case ATTNSEARCH_FN_LEVY: {
        double w0 = 1.0 + (ATTNSEARCH_X(0) - 1.0) / 4.0;
        double wd = 1.0 + (ATTNSEARCH_X(dim - 1) - 1.0) / 4.0;
        double s0 = sin(pi * w0), sd = sin(2.0 * pi * wd);
        total = s0 * s0 + (wd - 1.0) * (wd - 1.0) * (1.0 + sd * sd);
        for (j = 0; j + 1 < dim; j++) {
            double w = 1.0 + (ATTNSEARCH_X(j) - 1.0) / 4.0;
            double s = sin(pi * w + 1.0);
            total += (w - 1.0) * (w - 1.0) * (1.0 + 10.0 * s * s);
        }
        return total;
    }
    }
    return NAN;
}
