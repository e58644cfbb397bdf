/*
 * tinyprop: adaptive sparse backprop (Rueb, Maier, Mueller-Gritschneder,
 * Sikora 2023). Per layer, the error mass Y = sum |delta| against its
 * running maximum sets how many rows (k) get gradients and pass error down;
 * the rows are the top-k by |delta|.
 */
#include <math.h>
#include <string.h>

#include "odl_internal.h"
#include "odl_strategy.h"

struct tp_layer {
	uint16_t *sel; /* rows given gradients in the last step, in rank order */
	uint16_t k;    /* valid entries of sel */
	float y_max;   /* running maximum of Y, kept until new weights */
};

struct tp_state {
	struct tp_layer layers[ODL_MAX_LAYERS];
};

/*
 * k for one layer. The float operations and their order are part of the
 * contract: the numpy twin repeats them so that both truncate to the same k.
 * *top receives the row of the largest |delta| (ties to the lower index),
 * found in the same pass: k is 1 in most steps once the model fits.
 */
static uint16_t tinyprop_k(struct tp_layer *tl, uint16_t n_out, const float *delta,
			   const odl_train_params_t *p, unsigned pos_from_output, uint16_t *top)
{
	float y = 0.0f;
	uint32_t top_mag = odl_mag_bits(&delta[0]);

	*top = 0;
	for (uint16_t i = 0; i < n_out; i++) {
		const uint32_t mag = odl_mag_bits(&delta[i]);

		if (mag > top_mag) {
			top_mag = mag;
			*top = i;
		}
		y += fabsf(delta[i]);
	}
	if (y > tl->y_max) {
		tl->y_max = y;
	}
	float damp = 1.0f;

	for (unsigned i = 0; i < pos_from_output; i++) {
		damp *= p->tp_zeta;
	}
	const float frac = tl->y_max > 0.0f ? (y * (p->tp_s_max - p->tp_s_min)) / tl->y_max : 0.0f;
	const float ratio = (p->tp_s_min + frac) * damp;
	const float kf = (float)n_out * ratio;
	uint16_t k = (uint16_t)kf;

	if (k < 1u) {
		k = 1u;
	}
	if (k > n_out) {
		k = n_out;
	}
	return k;
}

/* The k rows with the largest |delta|, ties to the lower index, in rank
 * order. Insertion into a sorted prefix: O(n k), no scratch memory. */
static void select_top_k(uint16_t *sel, uint16_t k, const float *delta, uint16_t n)
{
	uint16_t filled = 0;
	uint32_t kth = 0; /* |delta| of sel[k - 1] once k rows are in */

	for (uint16_t i = 0; i < n; i++) {
		const uint32_t mag = odl_mag_bits(&delta[i]);

		if (filled == k && !(mag > kth)) {
			continue; /* not larger than the k-th: most rows stop here */
		}
		uint16_t pos = filled;

		while (pos > 0u && mag > odl_mag_bits(&delta[sel[pos - 1u]])) {
			pos--;
		}
		uint16_t last = filled < k ? filled : (uint16_t)(k - 1u);

		for (uint16_t j = last; j > pos; j--) {
			sel[j] = sel[j - 1u];
		}
		sel[pos] = i;
		if (filled < k) {
			filled++;
		}
		if (filled == k) {
			kth = odl_mag_bits(&delta[sel[k - 1u]]);
		}
	}
}

static uint16_t pick_rows(odl_model_t *m, unsigned layer, const float *delta,
			  const uint16_t **rows, void *ctx)
{
	struct tp_layer *tl = &((struct tp_state *)ctx)->layers[layer];
	const uint16_t n_out = m->layers[layer].n_out;

	uint16_t top;

	tl->k = tinyprop_k(tl, n_out, delta, &m->params, m->arch.n_layers - 1u - layer, &top);
	if (tl->k == 1u) {
		tl->sel[0] = top; /* what select_top_k gives for k = 1 */
	} else {
		select_top_k(tl->sel, tl->k, delta, n_out);
	}
	*rows = tl->sel;
	return tl->k;
}

static void tinyprop_layout(odl_model_t *m, odl_arena_t *a)
{
	struct tp_state *s = odl_arena_alloc(a, sizeof(*s));

	m->strategy_state = s;
	for (unsigned l = 0; l < m->arch.n_layers; l++) {
		uint16_t *sel = odl_arena_alloc(a, m->layers[l].n_out * sizeof(uint16_t));

		if (s != NULL) {
			s->layers[l].sel = sel;
		}
	}
	odl_velocity_layout(m, a, 0u);
	odl_anchor_layout(m, a, 0u);
}

static size_t tinyprop_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params)
{
	return odl_arena_dry_bytes(tinyprop_layout, arch, params);
}

static void tinyprop_reset(odl_model_t *m)
{
	struct tp_state *s = m->strategy_state;

	for (unsigned l = 0; l < m->arch.n_layers; l++) {
		s->layers[l].k = 0;
		s->layers[l].y_max = 0.0f;
	}
}

static void tinyprop_begin_step(odl_model_t *m)
{
	struct tp_state *s = m->strategy_state;

	for (unsigned l = 0; l < m->arch.n_layers; l++) {
		s->layers[l].k = 0;
	}
}

static void tinyprop_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r)
{
	odl_backprop(m, x, r, 0u, pick_rows, m->strategy_state);
}

static void tinyprop_selected(const odl_model_t *m, unsigned layer, const uint16_t **rows,
			      uint16_t *k)
{
	const struct tp_state *s = m->strategy_state;

	*rows = s->layers[layer].sel;
	*k = s->layers[layer].k;
}

const struct odl_strategy_ops odl_strategy_tinyprop_ops = {
	.arena_bytes = tinyprop_arena_bytes,
	.layout = tinyprop_layout,
	.reset = tinyprop_reset,
	.begin_step = tinyprop_begin_step,
	.backward_update = tinyprop_backward_update,
	.selected = tinyprop_selected,
};
