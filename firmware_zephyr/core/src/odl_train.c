#include <string.h>

#include "odl/odl_train.h"
#include "odl/odl_uncertainty.h"
#include "odl_internal.h"
#include "odl_strategy.h"

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

/* Field by field: the C library's memset on the targets goes byte by byte
 * (a few hundred instructions for this struct, every step). */
static void clear_result(odl_step_result_t *r)
{
	/* every field is listed below: what is left of the struct is padding */
	_Static_assert(sizeof(odl_step_result_t) -
			       (sizeof(r->outcome) + sizeof(r->predicted) + sizeof(r->k) +
				sizeof(r->loss) + sizeof(r->error) + sizeof(r->score) +
				6u * sizeof(uint32_t)) < sizeof(uint32_t),
		       "a field of odl_step_result_t is not cleared below");
	r->outcome = 0;
	r->predicted = 0;
	for (unsigned l = 0; l < ODL_MAX_LAYERS; l++) {
		r->k[l] = 0;
	}
	r->loss = 0.0f;
	r->error = 0.0f;
	r->score = 0.0f;
	r->macs_forward = 0;
	r->macs_backward = 0;
	r->macs_backward_full = 0;
	r->cycles_forward = 0;
	r->cycles_backward = 0;
	r->cycles_update = 0;
}

/* Marks an unlabelled step: the label comes from the prediction, if at all. */
#define PSEUDO_LABEL 0xFFFFu

static odl_status_t train_step(odl_model_t *model, const float *x, size_t n_x, uint16_t label,
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
	if (label >= top->n_out && label != PSEUDO_LABEL) {
		return ODL_ERR_LABEL;
	}
	if (!odl_all_finite(x, n_x)) {
		return ODL_ERR_NONFINITE;
	}
	clear_result(r);
	model->ops->begin_step(model);
	odl_stats_t *st = &model->stats;

	r->macs_forward = odl_forward(model, x, 1, &r->cycles_forward);
	if (!odl_all_finite(top->out, top->n_out)) {
		return ODL_ERR_DIVERGED;
	}
	const float *p = top->out;

	(void)odl_top2(p, top->n_out, &r->predicted, NULL, NULL, NULL);
	r->macs_backward_full = macs_backward_full(model);
	st->seen++;

	const odl_train_params_t *prm = &model->params;

	if (label == PSEUDO_LABEL) {
		float confidence = 0.0f;

		(void)odl_uncertainty(p, top->n_out, prm->pseudo_score, &confidence);
		if (!odl_uncertainty_confident(prm->pseudo_score, confidence, prm->pseudo_threshold)) {
			r->outcome = ODL_STEP_NOT_CONFIDENT;
			return ODL_OK;
		}
		label = r->predicted;
	}
	/* probabilities are at least tiny, never 0: keep the loss finite */
	r->loss = -logf(p[label] > 1e-30f ? p[label] : 1e-30f);
	r->error = 1.0f - p[label];

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
	model->ops->backward_update(model, x, r);
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

odl_status_t odl_train_step(odl_model_t *model, const float *x, size_t n_x, uint16_t label,
			    odl_step_result_t *result)
{
	if (label == PSEUDO_LABEL) {
		return ODL_ERR_LABEL; /* never a class: ODL_MAX_NEURONS < 2^16 - 1 */
	}
	return train_step(model, x, n_x, label, result);
}

odl_status_t odl_train_step_unlabelled(odl_model_t *model, const float *x, size_t n_x,
				       odl_step_result_t *result)
{
	return train_step(model, x, n_x, PSEUDO_LABEL, result);
}
