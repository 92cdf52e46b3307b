/*
 * probe.c - leave-one-out nearest-centroid probe (see probe.h).
 */
#include "probe.h"

#include <math.h>
#include <stdlib.h>

int64_t
eval_probe(const float *protos, const float *queries, const int *cls, int n_cls, int64_t n,
           int64_t c, unsigned char *correct)
{
    double *sum = calloc((size_t)(n_cls * c) + 1, sizeof(double));
    double *cen = malloc((size_t)c * sizeof(double) + 1);
    int64_t *cnt = calloc((size_t)n_cls + 1, sizeof(int64_t)), right = 0;
    if (!sum || !cen || !cnt) {
        free(sum);
        free(cen);
        free(cnt);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        cnt[cls[i]]++;
        for (int64_t k = 0; k < c; k++)
            sum[cls[i] * c + k] += protos[i * c + k];
    }
    for (int64_t i = 0; i < n; i++) {
        int best = -1;
        double best_s = -INFINITY;
        for (int j = 0; j < n_cls; j++) {
            int self = cls[i] == j;
            int64_t m = cnt[j] - self;
            if (m <= 0)
                continue;
            double qc = 0, cc = 0, qq = 0;
            for (int64_t k = 0; k < c; k++) {
                cen[k] = (sum[j * c + k] - (self ? protos[i * c + k] : 0)) / (double)m;
                qc += queries[i * c + k] * cen[k];
                cc += cen[k] * cen[k];
                qq += (double)queries[i * c + k] * queries[i * c + k];
            }
            double s = cc > 0 && qq > 0 ? qc / sqrt(cc * qq) : 0;
            if (s > best_s) {
                best_s = s;
                best = j;
            }
        }
        correct[i] = best == cls[i];
        right += correct[i];
    }
    free(sum);
    free(cen);
    free(cnt);
    return right;
}
