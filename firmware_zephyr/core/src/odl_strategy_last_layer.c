/* last_layer: only the output layer learns; no error is passed down. */
#include "odl_strategy.h"

static unsigned output_layer(const odl_model_t *m)
{
	return m->arch.n_layers - 1u;
}

static void last_layer_layout(odl_model_t *m, odl_arena_t *a)
{
	odl_dense_layout(m, a, output_layer(m));
}

static size_t last_layer_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params)
{
	return odl_arena_dry_bytes(last_layer_layout, arch, params);
}

static void last_layer_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r)
{
	odl_dense_backward_update(m, x, r, output_layer(m));
}

const struct odl_strategy_ops odl_strategy_last_layer_ops = {
	.arena_bytes = last_layer_arena_bytes,
	.layout = last_layer_layout,
	.reset = odl_dense_reset,
	.begin_step = odl_dense_begin_step,
	.backward_update = last_layer_backward_update,
	.selected = odl_dense_selected,
};
