#include <string.h>

#include "odl/odl_train.h"
#include "odl/odl_uncertainty.h"
#include "odl_internal.h"

/*
 * TinyProp's k for one layer (Rueb et al. 2023): the error mass
 * Y = sum |delta| against its running maximum sets the backprop ratio
 * between S_min and S_max, damped by zeta per layer counted from the output.
 * The float operations and their order are part of the contract: the numpy
 * twin repeats them so that both truncate to the same k.
 */
static uint16_t tinyprop_k(odl_layer_t *ly, const float *delta, const odl_train_params_t *p,
			   unsigned pos_from_output)
{
	float y = 0.0f;

	for (uint16_t i = 0; i < ly->n_out; i++) {
		y += fabsf(delta[i]);
	}
	if (y > ly->y_max) {
		ly->y_max = y;
	}
	float damp = 1.0f;

	for (unsigned i = 0; i < pos_from_output; i++) {
		damp *= p->tp_zeta;
	}
	const float frac = ly->y_max > 0.0f ? (y * (p->tp_s_max - p->tp_s_min)) / ly->y_max : 0.0f;
	const float ratio = (p->tp_s_min + frac) * damp;
	const float kf = (float)ly->n_out * ratio;
	uint16_t k = (uint16_t)kf;

	if (k < 1u) {
		k = 1u;
	}
	if (k > ly->n_out) {
		k = ly->n_out;
	}
	return k;
}

/* The k rows with the largest |delta|, ties to the lower index, in rank
 * order. Insertion into a sorted prefix: O(n k), no scratch memory. */
static void select_top_k(uint16_t *sel, uint16_t k, const float *delta, uint16_t n)
{
	uint16_t filled = 0;

	for (uint16_t i = 0; i < n; i++) {
		const float mag = fabsf(delta[i]);
		uint16_t pos = filled;

		while (pos > 0u && mag > fabsf(delta[sel[pos - 1u]])) {
			pos--;
		}
		if (pos >= k) {
			continue;
		}
		uint16_t last = filled < k ? filled : (uint16_t)(k - 1u);

		for (uint16_t j = last; j > pos; j--) {
			sel[j] = sel[j - 1u];
		}
		sel[pos] = i;
		if (filled < k) {
			filled++;
		}
	}
}

static void record_k(odl_stats_t *s, unsigned l, uint16_t k)
{
	if (s->trained == 0u || k < s->k_min[l]) {
		s->k_min[l] = k;
	}
	if (k > s->k_max[l]) {
		s->k_max[l] = k;
	}
	s->k_sum[l] += k;
}

static uint32_t macs_backward_full(const odl_model_t *m)
{
	uint32_t macs = 0;

	for (unsigned l = 0; l < m->arch.n_layers; l++) {
		const uint32_t rows_x_in = (uint32_t)m->layers[l].n_out * m->layers[l].n_in;

		macs += l > 0u ? 2u * rows_x_in : rows_x_in;
	}
	return macs;
}

/* Backward and update from the output error in m->delta[0]; x is the input. */
static void backward_update(odl_model_t *m, const float *x, odl_step_result_t *r)
{
	const odl_train_params_t *p = &m->params;
	const unsigned n_layers = m->arch.n_layers;
	const unsigned lowest = p->strategy == ODL_STRATEGY_LAST_LAYER ? n_layers - 1u : 0u;
	const float lr = p->learning_rate;
	const float mom = p->momentum;
	unsigned cur = 0;

	for (unsigned l = n_layers; l-- > lowest;) {
		odl_layer_t *ly = &m->layers[l];
		const float *delta = m->delta[cur];
		const float *a_in = l > 0u ? m->layers[l - 1u].out : x;
		const uint32_t t0 = odl_now(m);

		if (p->strategy == ODL_STRATEGY_TINYPROP) {
			ly->k = tinyprop_k(ly, delta, p, n_layers - 1u - l);
			select_top_k(ly->sel, ly->k, delta, ly->n_out);
		} else {
			ly->k = ly->n_out; /* sel holds the identity since init */
		}
		const uint32_t rows_x_in = (uint32_t)ly->k * ly->n_in;

		r->macs_backward += rows_x_in;
		if (l > lowest) {
			float *down = m->delta[cur ^ 1u];

			memset(down, 0, ly->n_in * sizeof(float));
			for (uint16_t s = 0; s < ly->k; s++) {
				const uint16_t row = ly->sel[s];
				const float *w = ly->w + (size_t)row * ly->n_in;
				const float d = delta[row];

				for (uint16_t j = 0; j < ly->n_in; j++) {
					down[j] += w[j] * d;
				}
			}
			for (uint16_t j = 0; j < ly->n_in; j++) {
				if (!(a_in[j] > 0.0f)) {
					down[j] = 0.0f; /* ReLU passes no error where it was off */
				}
			}
			r->macs_backward += rows_x_in;
		}
		const uint32_t t1 = odl_now(m);

		for (uint16_t s = 0; s < ly->k; s++) {
			const uint16_t row = ly->sel[s];
			float *w = ly->w + (size_t)row * ly->n_in;
			const float d = delta[row];

			if (ly->vw != NULL) {
				float *v = ly->vw + (size_t)row * ly->n_in;

				for (uint16_t j = 0; j < ly->n_in; j++) {
					v[j] = mom * v[j] + d * a_in[j];
					w[j] -= lr * v[j];
				}
			} else {
				const float step = lr * d;

				for (uint16_t j = 0; j < ly->n_in; j++) {
					w[j] -= step * a_in[j];
				}
			}
		}
		/* biases stay dense under every strategy */
		for (uint16_t i = 0; i < ly->n_out; i++) {
			if (ly->vb != NULL) {
				ly->vb[i] = mom * ly->vb[i] + delta[i];
				ly->b[i] -= lr * ly->vb[i];
			} else {
				ly->b[i] -= lr * delta[i];
			}
		}
		const uint32_t t2 = odl_now(m);

		r->cycles_backward += t1 - t0;
		r->cycles_update += t2 - t1;
		r->k[l] = ly->k;
		cur ^= 1u;
	}
}

odl_status_t odl_train_step(odl_model_t *model, const float *x, size_t n_x, uint16_t label,
			    odl_step_result_t *result)
{
	odl_step_result_t local;
	odl_step_result_t *r = result != NULL ? result : &local;

	if (model == NULL || x == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL || !model->trainable || !model->weights_ok) {
		return ODL_ERR_STATE;
	}
	const unsigned n_layers = model->arch.n_layers;
	odl_layer_t *top = &model->layers[n_layers - 1u];

	if (n_x != model->arch.sizes[0]) {
		return ODL_ERR_LENGTH;
	}
	if (label >= top->n_out) {
		return ODL_ERR_LABEL;
	}
	if (!odl_all_finite(x, n_x)) {
		return ODL_ERR_NONFINITE;
	}
	memset(r, 0, sizeof(*r));
	for (unsigned l = 0; l < n_layers; l++) {
		model->layers[l].k = 0;
	}
	odl_stats_t *st = &model->stats;

	r->macs_forward = odl_forward(model, x, &r->cycles_forward);
	if (!odl_all_finite(top->out, top->n_out)) {
		return ODL_ERR_DIVERGED;
	}
	const float *p = top->out;

	(void)odl_top2(p, top->n_out, &r->predicted, NULL, NULL, NULL);
	/* probabilities are at least tiny, never 0: keep the loss finite */
	r->loss = -logf(p[label] > 1e-30f ? p[label] : 1e-30f);
	r->error = 1.0f - p[label];
	r->macs_backward_full = macs_backward_full(model);
	st->seen++;

	const odl_train_params_t *prm = &model->params;

	if (prm->select_score != ODL_SCORE_NONE) {
		(void)odl_uncertainty(p, top->n_out, prm->select_score, &r->score);
		if (!odl_uncertainty_selects(prm->select_score, r->score, prm->select_threshold)) {
			r->outcome = ODL_STEP_NOT_SELECTED;
			return ODL_OK;
		}
	}
	st->selected++;
	if (r->error < prm->gate_threshold) {
		r->outcome = ODL_STEP_SKIPPED;
		st->skipped++;
		return ODL_OK;
	}

	float *delta = model->delta[0];

	for (uint16_t i = 0; i < top->n_out; i++) {
		delta[i] = p[i] - (i == label ? 1.0f : 0.0f);
	}
	backward_update(model, x, r);
	r->outcome = ODL_STEP_TRAINED;

	odl_cycle_stat_add(&st->backward, r->cycles_backward);
	odl_cycle_stat_add(&st->update, r->cycles_update);
	st->macs_backward += r->macs_backward;
	st->macs_backward_full += r->macs_backward_full;
	for (unsigned l = 0; l < n_layers; l++) {
		record_k(st, l, r->k[l]);
	}
	st->trained++;
	return ODL_OK;
}
