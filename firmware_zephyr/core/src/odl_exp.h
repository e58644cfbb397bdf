/*
 * odl_exp.h - the softmax's exponential: a Cephes-style expf in plain
 * float32 operations, in an order the numpy twin repeats bit for bit
 * (hil_service/reference/fastmath.py), unlike libm's expf whose last bit
 * differs between C libraries. Not part of the public API.
 *
 * Domain x <= 0 (the softmax subtracts the maximum logit first). Range
 * reduction x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is
 * exact), a degree-6 polynomial for e^r, then a multiply by 2^n built from
 * its bits. Below -87.33654 (e^x under FLT_MIN) the result is 0. Relative
 * error against the exact e^x: at most 8.2e-8 (under one ulp) over every
 * float in [-87.33654, 0] (checked exhaustively against double exp once,
 * docs/core.md; tests/core/test_fastmath.py checks a dense grid and
 * core/tests/test_core.c sampled points against libm).
 */
#ifndef ODL_EXP_H
#define ODL_EXP_H

#include <stdint.h>
#include <string.h>

#define ODL_EXP_X_MIN (-87.33654f)

static inline float odl_exp(float x)
{
	if (x != x) {
		return x; /* NaN stays NaN: the caller reports divergence */
	}
	if (x < ODL_EXP_X_MIN) {
		return 0.0f;
	}
	/* n = round(x / ln2) for x <= 0: truncating t - 0.5 rounds to nearest */
	const float t = x * 1.44269504088896341f;
	const int32_t n = (int32_t)(t - 0.5f);
	const float nf = (float)n;
	float r = x - nf * 0.693359375f;
	r = r - nf * -2.12194440e-4f;

	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	const float r2 = r * r;
	float y = p * r2;
	y = y + r;
	y = y + 1.0f;

	/* 2^n for n in -126..0, a normal float */
	const uint32_t bits = (uint32_t)(n + 127) << 23;
	float scale;

	memcpy(&scale, &bits, sizeof(scale));
	return y * scale;
}

#endif /* ODL_EXP_H */
