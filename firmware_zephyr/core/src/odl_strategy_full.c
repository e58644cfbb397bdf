/* full: SGD backprop through every layer. */
#include "odl_strategy.h"

static void full_layout(odl_model_t *m, odl_arena_t *a)
{
	odl_dense_layout(m, a, 0u);
}

static size_t full_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params)
{
	return odl_arena_dry_bytes(full_layout, arch, params);
}

static void full_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r)
{
	odl_dense_backward_update(m, x, r, 0u);
}

const struct odl_strategy_ops odl_strategy_full_ops = {
	.arena_bytes = full_arena_bytes,
	.layout = full_layout,
	.reset = odl_dense_reset,
	.begin_step = odl_dense_begin_step,
	.backward_update = full_backward_update,
	.selected = odl_dense_selected,
};
