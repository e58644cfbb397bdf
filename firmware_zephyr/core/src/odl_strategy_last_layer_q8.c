/*
 * last_layer_q8: only the output layer learns, in float32 (as last_layer);
 * the frozen hidden layers run in int8 with integer arithmetic only, for
 * MCUs without an FPU, where a float multiply-add is two library calls.
 *
 * Quantization (docs/core.md, "last_layer_q8"; the twin is
 * hil_service/reference/q8.py, bit for bit):
 * - weights, once per new weights (load, growth, init): per hidden row i,
 *   wmax = max |w|, wq = roundf(w * (127 / wmax)) in -127..127, and the step
 *   r = wmax / 127 kept exactly as an integer mantissa and a power of two
 *   (r = mant * 2^expo); bias B = roundf(b * 2^12) saturated to +-2^30. A row
 *   whose wmax is zero or subnormal is all zeros.
 * - the input, per sample: a power-of-two scale 2^k with max |x| * 2^k in
 *   [64, 128), q = round-half-up(|x| * 2^k) with the sign, at most 127, done
 *   on the float's bits (an all-zero or all-subnormal input is all zeros).
 * - a hidden row: acc = sum wq * xq (int32), pre-activation in Q.12
 *   z = round-half-up(acc * mant * 2^(expo - fx + 12)) + B, saturated to
 *   int32, ReLU; fx is the power of two of the row's input.
 * - between hidden layers: z requantized to int8 by the smallest right
 *   shift t that brings max z to <= 127 (rounding half up, at most 127), so
 *   the next layer's fx = 12 - t.
 * - the last hidden layer's z becomes float: (float)z * 2^-12, the output
 *   layer's input, on which it trains exactly as last_layer does.
 */
#include <math.h>
#include <string.h>

#include "odl_internal.h"
#include "odl_strategy.h"

#define Q8_FRAC 12 /* fractional bits of a pre-activation z */
#define Q8_BIAS_MAX 1073741824.0f /* 2^30: room to add acc's term in int64 */

struct q8_state {
	struct odl_dense_state dense; /* first: the dense helpers read it */
	int8_t *wq;     /* hidden layers' weights, blob order */
	int32_t *mant;  /* per hidden row: the step r = mant * 2^expo */
	int32_t *expo;
	int32_t *bias;  /* per hidden row: round(b * 2^Q8_FRAC) */
	int32_t *z;     /* one hidden layer's pre-activations */
	int8_t *xq[2];  /* a hidden layer's int8 input, ping-pong */
	uint16_t *nz;   /* indices of its nonzero entries */
};

static unsigned output_layer(const odl_model_t *m)
{
	return m->arch.n_layers - 1u;
}

static void q8_layout(odl_model_t *m, odl_arena_t *a)
{
	const unsigned out = output_layer(m);
	size_t n_w = 0;
	size_t n_rows = 0;
	uint16_t widest_in = 0;
	uint16_t widest_out = 0;

	for (unsigned l = 0; l < out; l++) {
		const odl_layer_t *ly = &m->layers[l];

		n_w += (size_t)ly->n_out * ly->n_in;
		n_rows += ly->n_out;
		widest_in = ly->n_in > widest_in ? ly->n_in : widest_in;
		widest_out = ly->n_out > widest_out ? ly->n_out : widest_out;
	}
	odl_dense_layout_sized(m, a, out, sizeof(struct q8_state));
	struct q8_state *s = m->strategy_state;
	int8_t *wq = odl_arena_alloc(a, n_w);
	int32_t *mant = odl_arena_alloc(a, n_rows * sizeof(int32_t));
	int32_t *expo = odl_arena_alloc(a, n_rows * sizeof(int32_t));
	int32_t *bias = odl_arena_alloc(a, n_rows * sizeof(int32_t));
	int32_t *z = odl_arena_alloc(a, widest_out * sizeof(int32_t));
	int8_t *xq0 = odl_arena_alloc(a, widest_in);
	int8_t *xq1 = odl_arena_alloc(a, widest_in);
	uint16_t *nz = odl_arena_alloc(a, widest_in * sizeof(uint16_t));

	if (s != NULL) {
		s->wq = wq;
		s->mant = mant;
		s->expo = expo;
		s->bias = bias;
		s->z = z;
		s->xq[0] = xq0;
		s->xq[1] = xq1;
		s->nz = nz;
	}
}

static size_t q8_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params)
{
	return odl_arena_dry_bytes(q8_layout, arch, params);
}

/* The bits of max |v[j]|: its exponent field tells zero and subnormal apart. */
static uint32_t max_mag_bits(const float *v, uint16_t n)
{
	uint32_t amax = 0;

	for (uint16_t j = 0; j < n; j++) {
		const uint32_t mag = odl_mag_bits(&v[j]);

		amax = mag > amax ? mag : amax;
	}
	return amax;
}

/* One hidden row's int8 weights, step and bias. */
static void quantize_row(const float *w, float b, uint16_t n_in, int8_t *wq, int32_t *mant,
			 int32_t *expo, int32_t *bias)
{
	const uint32_t amax = max_mag_bits(w, n_in);

	if ((amax >> 23) == 0u) { /* zero or subnormal: 127 / wmax overflows */
		memset(wq, 0, n_in);
		*mant = 0;
		*expo = 0;
	} else {
		float wmax;

		memcpy(&wmax, &amax, sizeof(wmax));
		const float scale = 127.0f / wmax;

		for (uint16_t j = 0; j < n_in; j++) {
			float v = roundf(w[j] * scale);

			v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
			wq[j] = (int8_t)v;
		}
		const float step = wmax / 127.0f; /* normal: wmax >= 2^-126 */
		uint32_t u;

		memcpy(&u, &step, sizeof(u));
		*mant = (int32_t)((u & 0x7FFFFFu) | 0x800000u);
		*expo = (int32_t)(u >> 23) - 150;
	}
	float bq = roundf(b * 4096.0f);

	bq = bq > Q8_BIAS_MAX ? Q8_BIAS_MAX : (bq < -Q8_BIAS_MAX ? -Q8_BIAS_MAX : bq);
	*bias = (int32_t)bq;
}

/* New weights: the int8 copy of every hidden layer. */
static void q8_reset(odl_model_t *m)
{
	struct q8_state *s = m->strategy_state;
	int8_t *wq = s->wq;
	size_t row = 0;

	odl_dense_reset(m);
	for (unsigned l = 0; l < output_layer(m); l++) {
		const odl_layer_t *ly = &m->layers[l];

		for (uint16_t i = 0; i < ly->n_out; i++) {
			quantize_row(ly->w + (size_t)i * ly->n_in, ly->b[i], ly->n_in, wq, &s->mant[row],
				     &s->expo[row], &s->bias[row]);
			wq += ly->n_in;
			row++;
		}
	}
}

/* x to int8 at the power of two 2^k that puts max |x| * 2^k in [64, 128);
 * returns k. Integer-only, on the floats' bits. */
static int quantize_input(const float *x, uint16_t n, int8_t *q)
{
	const uint32_t e_max = max_mag_bits(x, n) >> 23;

	if (e_max == 0u) {
		memset(q, 0, n);
		return 0;
	}
	for (uint16_t j = 0; j < n; j++) {
		uint32_t u;

		memcpy(&u, &x[j], sizeof(u));
		const uint32_t e8 = (u >> 23) & 0xFFu;
		const uint32_t mant = e8 != 0u ? (u & 0x7FFFFFu) | 0x800000u : u & 0x7FFFFFu;
		/* |x| * 2^k = mant / 2^sh, sh >= 17 */
		const uint32_t sh = 17u + e_max - (e8 != 0u ? e8 : 1u);
		uint32_t v = sh > 24u ? 0u : (mant + (1u << (sh - 1u))) >> sh;

		v = v > 127u ? 127u : v;
		q[j] = (int8_t)((u >> 31) != 0u ? -(int32_t)v : (int32_t)v);
	}
	return 133 - (int)e_max;
}

/*
 * acc[i] = sum_j w[i][j] x[j] for n_out rows of n_in, over x's nonzero
 * entries only (nz, n_nz: ReLU zeros and blank pixels are about half of
 * them), four rows at a time sharing each index and input load. Integer
 * sums: the order is free.
 */
static void rows_q7(const int8_t *w, uint16_t n_in, uint16_t n_out, const int8_t *x,
		    const uint16_t *nz, uint16_t n_nz, int32_t *acc)
{
	uint16_t i = 0;

	for (; i + 4u <= n_out; i += 4u) {
		const int8_t *w0 = w + (size_t)i * n_in;
		const int8_t *w1 = w0 + n_in;
		const int8_t *w2 = w1 + n_in;
		const int8_t *w3 = w2 + n_in;
		int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;

		for (uint16_t s = 0; s < n_nz; s++) {
			const uint16_t j = nz[s];
			const int32_t v = x[j];

			a0 += w0[j] * v;
			a1 += w1[j] * v;
			a2 += w2[j] * v;
			a3 += w3[j] * v;
		}
		acc[i] = a0;
		acc[i + 1u] = a1;
		acc[i + 2u] = a2;
		acc[i + 3u] = a3;
	}
	for (; i < n_out; i++) {
		const int8_t *w0 = w + (size_t)i * n_in;
		int32_t a0 = 0;

		for (uint16_t s = 0; s < n_nz; s++) {
			a0 += w0[nz[s]] * (int32_t)x[nz[s]];
		}
		acc[i] = a0;
	}
}

/* Q.12 pre-activation of a row, before ReLU: |acc|, mant < 2^24, so the
 * product fits 48 bits; >> of a negative int64 is arithmetic (GCC, Clang). */
static int32_t requantize(int32_t acc, int32_t mant, int32_t expo, int32_t bias, int fx)
{
	const int64_t p = (int64_t)acc * mant;
	const int sh = fx - Q8_FRAC - (int)expo; /* z = p * 2^-sh */
	int64_t t;

	if (sh >= 50) {
		t = 0; /* |p| < 2^49: rounds to 0 */
	} else if (sh > 0) {
		t = (p + ((int64_t)1 << (sh - 1))) >> sh;
	} else if (sh > -14) {
		t = p * ((int64_t)1 << -sh);
	} else {
		t = p > 0 ? INT32_MAX : (p < 0 ? -INT32_MAX : 0);
	}
	t += bias;
	return t > INT32_MAX ? INT32_MAX : (t < -INT32_MAX ? -INT32_MAX : (int32_t)t);
}

/* ReLU'd z (>= 0) to int8 by the smallest right shift t that brings
 * zmax to <= 127; returns the int8 values' power of two, Q8_FRAC - t. */
static int requantize_activations(const int32_t *z, uint16_t n, int32_t zmax, int8_t *q)
{
	unsigned t = 0;

	while ((zmax >> t) > 127) {
		t++;
	}
	const uint32_t half = t != 0u ? 1u << (t - 1u) : 0u;

	for (uint16_t i = 0; i < n; i++) {
		const uint32_t v = ((uint32_t)z[i] + half) >> t;

		q[i] = (int8_t)(v > 127u ? 127u : v);
	}
	return Q8_FRAC - (int)t;
}

static const float *q8_forward_hidden(odl_model_t *m, const float *x)
{
	struct q8_state *s = m->strategy_state;
	const unsigned last = output_layer(m) - 1u; /* the last hidden layer */
	const int8_t *in = s->xq[0];
	const int8_t *wq = s->wq;
	size_t row = 0;
	int fx = quantize_input(x, m->layers[0].n_in, s->xq[0]);

	for (unsigned l = 0;; l++) {
		odl_layer_t *ly = &m->layers[l];
		int32_t zmax = 0;
		uint16_t n_nz = 0;

		for (uint16_t j = 0; j < ly->n_in; j++) {
			s->nz[n_nz] = j;
			n_nz = (uint16_t)(n_nz + (in[j] != 0));
		}
		rows_q7(wq, ly->n_in, ly->n_out, in, s->nz, n_nz, s->z);
		wq += (size_t)ly->n_out * ly->n_in;
		for (uint16_t i = 0; i < ly->n_out; i++, row++) {
			int32_t z = requantize(s->z[i], s->mant[row], s->expo[row], s->bias[row], fx);

			z = z < 0 ? 0 : z;
			zmax = z > zmax ? z : zmax;
			s->z[i] = z;
		}
		if (l == last) {
			float *out = ly->out;

			for (uint16_t i = 0; i < ly->n_out; i++) {
				/* exact scaling; zeros stay +0 with no library call */
				out[i] = s->z[i] != 0 ? (float)s->z[i] * (1.0f / 4096.0f) : 0.0f;
			}
			return out;
		}
		int8_t *next = s->xq[(l + 1u) & 1u];

		fx = requantize_activations(s->z, ly->n_out, zmax, next);
		in = next;
	}
}

static void q8_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r)
{
	odl_dense_backward_update(m, x, r, output_layer(m));
}

const struct odl_strategy_ops odl_strategy_last_layer_q8_ops = {
	.arena_bytes = q8_arena_bytes,
	.layout = q8_layout,
	.reset = q8_reset,
	.begin_step = odl_dense_begin_step,
	.backward_update = q8_backward_update,
	.selected = odl_dense_selected,
	.forward_hidden = q8_forward_hidden,
};
