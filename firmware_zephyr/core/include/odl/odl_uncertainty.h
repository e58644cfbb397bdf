/*
 * odl_uncertainty.h - uncertainty scores of a probability vector, used to
 * decide which incoming data points are worth a label (active learning).
 */
#ifndef ODL_UNCERTAINTY_H
#define ODL_UNCERTAINTY_H

#include <stddef.h>
#include <stdint.h>

#include "odl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The two most probable classes of p (n >= 2 entries). Ties go to the lower
 * index. Any output pointer may be NULL.
 */
odl_status_t odl_top2(const float *p, size_t n, uint16_t *i1, float *p1, uint16_t *i2, float *p2);

/*
 * Score of p (n >= 2 probabilities) by kind (see odl_score_kind_t for each
 * formula and its direction). ODL_SCORE_NONE yields 0.
 */
odl_status_t odl_uncertainty(const float *p, size_t n, uint32_t kind, float *score);

/* Whether a score calls for the label under threshold (MARGIN: score <= t,
 * the others: score >= t). ODL_SCORE_NONE always selects. */
int odl_uncertainty_selects(uint32_t kind, float score, float threshold);

/* Whether a score is certain enough for a pseudo label under threshold:
 * MARGIN score >= t, LEAST_CONFIDENCE, RATIO and ENTROPY score <= t (each
 * score's "certain" side, bound included). ODL_SCORE_NONE: always. */
int odl_uncertainty_confident(uint32_t kind, float score, float threshold);

#ifdef __cplusplus
}
#endif

#endif /* ODL_UNCERTAINTY_H */
