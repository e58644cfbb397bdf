#include <string.h>

#include "odl/odl_grow.h"
#include "odl/odl_rng.h"
#include "odl_internal.h"
#include "odl_strategy.h"

odl_status_t odl_model_grow_check(const odl_model_t *model, const odl_arch_t *to)
{
	if (model == NULL || to == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	odl_status_t st = odl_arch_check(to);

	if (st != ODL_OK) {
		return st;
	}
	const odl_arch_t *from = &model->arch;

	if (to->n_layers != from->n_layers || to->sizes[0] != from->sizes[0]) {
		return ODL_ERR_GROW;
	}
	for (unsigned l = 1; l <= to->n_layers; l++) {
		if (to->sizes[l] < from->sizes[l]) {
			return ODL_ERR_GROW;
		}
	}
	size_t needed = 0;

	st = odl_model_arena_bytes(to, model->trainable ? &model->params : NULL, &needed);
	if (st != ODL_OK) {
		return st;
	}
	/* the model's arena starts aligned: the alignment slack is not needed */
	if (needed - (ODL_ALIGN - 1u) > model->arena.size) {
		return ODL_ERR_ARENA_TOO_SMALL;
	}
	return ODL_OK;
}

/*
 * Move every parameter to its place in the grown blob order, last first.
 * No element moves down (a grown layer's offsets, row strides and bias
 * offsets are all >= the old ones), so copying from the end never
 * overwrites a value not yet moved. New places are zeroed.
 */
static void spread_params(float *p, const odl_arch_t *from, const odl_arch_t *to)
{
	size_t old_start[ODL_MAX_LAYERS];
	size_t new_start[ODL_MAX_LAYERS];
	size_t o = 0, n = 0;

	for (unsigned l = 0; l < from->n_layers; l++) {
		old_start[l] = o;
		new_start[l] = n;
		o += (size_t)from->sizes[l + 1] * ((size_t)from->sizes[l] + 1u);
		n += (size_t)to->sizes[l + 1] * ((size_t)to->sizes[l] + 1u);
	}
	for (unsigned l = from->n_layers; l-- > 0;) {
		const size_t oi = from->sizes[l], ni = to->sizes[l];
		const size_t oo = from->sizes[l + 1], no = to->sizes[l + 1];
		float *src = p + old_start[l];
		float *dst = p + new_start[l];

		/* biases: old ones, then zeros for new rows */
		for (size_t r = no; r-- > 0;) {
			dst[no * ni + r] = r < oo ? src[oo * oi + r] : 0.0f;
		}
		for (size_t r = no; r-- > 0;) {
			for (size_t c = ni; c-- > 0;) {
				dst[r * ni + c] = (r < oo && c < oi) ? src[r * oi + c] : 0.0f;
			}
		}
	}
}

odl_status_t odl_model_grow(odl_model_t *model, const odl_arch_t *to, uint32_t seed)
{
	const odl_status_t st = odl_model_grow_check(model, to);

	if (st != ODL_OK) {
		return st;
	}
	const odl_arch_t from = model->arch;

	spread_params(odl_params(model), &from, to);
	odl_model_relayout(model, to);

	/* incoming weights of new hidden neurons: the layers below the output */
	uint32_t state = odl_rng_seed(seed);

	for (unsigned l = 0; l + 1u < to->n_layers; l++) {
		odl_layer_t *ly = &model->layers[l];
		const float limit = sqrtf(6.0f / (float)ly->n_in);

		for (size_t r = from.sizes[l + 1]; r < ly->n_out; r++) {
			for (size_t c = 0; c < ly->n_in; c++) {
				ly->w[r * ly->n_in + c] = (2.0f * odl_rng_uniform(&state) - 1.0f) * limit;
			}
		}
	}
	/* again, now that the new rows are set: what is derived from the weights
	 * (L2-SP anchor, last_layer_q8's int8 copy) must see them; stats kept */
	const odl_stats_t stats = model->stats;

	odl_model_reset_training_state(model);
	model->stats = stats;
	return ODL_OK;
}
