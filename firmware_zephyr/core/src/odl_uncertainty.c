#include <math.h>

#include "odl/odl_uncertainty.h"

odl_status_t odl_top2(const float *p, size_t n, uint16_t *i1, float *p1, uint16_t *i2, float *p2)
{
	if (p == NULL) {
		return ODL_ERR_NULL;
	}
	if (n < 2u || n > ODL_MAX_NEURONS) {
		return ODL_ERR_LENGTH;
	}
	uint16_t a = 0, b = 1;

	if (p[1] > p[0]) {
		a = 1;
		b = 0;
	}
	for (uint16_t i = 2; i < n; i++) {
		if (p[i] > p[a]) {
			b = a;
			a = i;
		} else if (p[i] > p[b]) {
			b = i;
		}
	}
	if (i1 != NULL) {
		*i1 = a;
	}
	if (p1 != NULL) {
		*p1 = p[a];
	}
	if (i2 != NULL) {
		*i2 = b;
	}
	if (p2 != NULL) {
		*p2 = p[b];
	}
	return ODL_OK;
}

odl_status_t odl_uncertainty(const float *p, size_t n, uint32_t kind, float *score)
{
	float p1, p2;

	if (score == NULL) {
		return ODL_ERR_NULL;
	}
	odl_status_t st = odl_top2(p, n, NULL, &p1, NULL, &p2);

	if (st != ODL_OK) {
		return st;
	}
	switch (kind) {
	case ODL_SCORE_NONE:
		*score = 0.0f;
		break;
	case ODL_SCORE_LEAST_CONFIDENCE:
		*score = 1.0f - p1;
		break;
	case ODL_SCORE_MARGIN:
		*score = p1 - p2;
		break;
	case ODL_SCORE_RATIO:
		*score = p1 > 0.0f ? p2 / p1 : 1.0f;
		break;
	case ODL_SCORE_ENTROPY: {
		float h = 0.0f;

		for (size_t i = 0; i < n; i++) {
			if (p[i] > 0.0f) {
				h -= p[i] * logf(p[i]);
			}
		}
		*score = h / logf((float)n);
		break;
	}
	default:
		return ODL_ERR_STRATEGY;
	}
	return ODL_OK;
}

int odl_uncertainty_selects(uint32_t kind, float score, float threshold)
{
	switch (kind) {
	case ODL_SCORE_NONE:
		return 1;
	case ODL_SCORE_MARGIN:
		return score <= threshold;
	default:
		return score >= threshold;
	}
}

int odl_uncertainty_confident(uint32_t kind, float score, float threshold)
{
	switch (kind) {
	case ODL_SCORE_NONE:
		return 1;
	case ODL_SCORE_MARGIN:
		return score >= threshold;
	default:
		return score <= threshold;
	}
}
