#include <string.h>

#include "odl/odl_rng.h"
#include "odl_internal.h"
#include "odl_exp.h"
#include "odl_kernels.h"
#include "odl_strategy.h"

odl_status_t odl_arch_check(const odl_arch_t *arch)
{
	if (arch == NULL) {
		return ODL_ERR_NULL;
	}
	if (arch->n_layers < 1u || arch->n_layers > ODL_MAX_LAYERS) {
		return ODL_ERR_ARCH;
	}
	if (arch->sizes[0] < 1u || arch->sizes[0] > ODL_MAX_INPUTS) {
		return ODL_ERR_ARCH;
	}
	for (unsigned l = 1; l <= arch->n_layers; l++) {
		if (arch->sizes[l] < 1u || arch->sizes[l] > ODL_MAX_NEURONS) {
			return ODL_ERR_ARCH;
		}
	}
	/* a single class cannot be classified */
	if (arch->sizes[arch->n_layers] < 2u) {
		return ODL_ERR_ARCH;
	}
	for (unsigned l = arch->n_layers + 1u; l <= ODL_MAX_LAYERS; l++) {
		if (arch->sizes[l] != 0u) {
			return ODL_ERR_ARCH;
		}
	}
	return ODL_OK;
}

size_t odl_arch_param_count(const odl_arch_t *arch)
{
	if (odl_arch_check(arch) != ODL_OK) {
		return 0;
	}
	size_t n = 0;

	for (unsigned l = 0; l < arch->n_layers; l++) {
		n += (size_t)arch->sizes[l + 1] * ((size_t)arch->sizes[l] + 1u);
	}
	return n;
}

odl_status_t odl_train_params_default(odl_train_params_t *params, odl_strategy_t strategy)
{
	if (params == NULL) {
		return ODL_ERR_NULL;
	}
	if ((unsigned)strategy >= ODL_STRATEGY_COUNT) {
		return ODL_ERR_STRATEGY;
	}
	*params = (odl_train_params_t){
		.strategy = (uint32_t)strategy,
		.learning_rate = 0.01f,
		.momentum = 0.0f,
		.tp_s_min = 0.1f,
		.tp_s_max = 0.9f,
		.tp_zeta = 0.5f,
		.gate_threshold = 0.0f,
		.select_score = ODL_SCORE_NONE,
		.select_threshold = 0.0f,
		.pseudo_score = ODL_SCORE_NONE,
		.pseudo_threshold = 0.0f,
		.l2sp_lambda = 0.0f,
	};
	return ODL_OK;
}

static odl_status_t check_params(const odl_train_params_t *p)
{
	if (p->strategy >= ODL_STRATEGY_COUNT || p->select_score >= ODL_SCORE_COUNT ||
	    p->pseudo_score >= ODL_SCORE_COUNT) {
		return ODL_ERR_STRATEGY;
	}
	const float v[] = {p->learning_rate, p->momentum,      p->tp_s_min,
			   p->tp_s_max,      p->tp_zeta,       p->gate_threshold,
			   p->select_threshold, p->pseudo_threshold, p->l2sp_lambda};

	if (!odl_all_finite(v, sizeof(v) / sizeof(v[0]))) {
		return ODL_ERR_NONFINITE;
	}
	if (!(p->learning_rate > 0.0f) || p->momentum < 0.0f || !(p->momentum < 1.0f)) {
		return ODL_ERR_PARAM;
	}
	if (p->tp_s_min < 0.0f || p->tp_s_min > p->tp_s_max || p->tp_s_max > 1.0f ||
	    !(p->tp_zeta > 0.0f) || p->tp_zeta > 1.0f) {
		return ODL_ERR_PARAM;
	}
	if (p->gate_threshold < 0.0f || p->gate_threshold > 1.0f || p->select_threshold < 0.0f ||
	    p->select_threshold > 1.0f) {
		return ODL_ERR_PARAM;
	}
	if (p->pseudo_threshold < 0.0f || p->pseudo_threshold > 1.0f || p->l2sp_lambda < 0.0f ||
	    p->l2sp_lambda > 1.0f) {
		return ODL_ERR_PARAM;
	}
	return ODL_OK;
}

/*
 * The shared part of the arena layout, run dry for sizing and wet for init.
 * Parameters come first and contiguous, in blob order, so a blob maps onto
 * them byte for byte; the strategy's own buffers follow (ops->layout).
 */
static void layout_shared(odl_model_t *m, odl_arena_t *a)
{
	const unsigned n_layers = m->arch.n_layers;
	const size_t n_params = odl_arch_param_count(&m->arch);
	float *params = odl_arena_alloc(a, n_params * sizeof(float));
	size_t offset = 0;
	uint16_t widest = 0;

	for (unsigned l = 0; l < n_layers; l++) {
		odl_layer_t *ly = &m->layers[l];

		ly->n_in = m->arch.sizes[l];
		ly->n_out = m->arch.sizes[l + 1];
		ly->w = params != NULL ? params + offset : NULL;
		offset += (size_t)ly->n_out * ly->n_in;
		ly->b = params != NULL ? params + offset : NULL;
		offset += ly->n_out;
		ly->out = odl_arena_alloc(a, ly->n_out * sizeof(float));
		if (ly->n_out > widest) {
			widest = ly->n_out;
		}
	}
	if (!m->trainable) {
		return;
	}
	m->delta[0] = odl_arena_alloc(a, widest * sizeof(float));
	m->delta[1] = odl_arena_alloc(a, widest * sizeof(float));
}

static size_t align_up(size_t n)
{
	return (n + (ODL_ALIGN - 1u)) & ~(size_t)(ODL_ALIGN - 1u);
}

static odl_status_t prepare(odl_model_t *m, const odl_arch_t *arch,
			    const odl_train_params_t *params)
{
	odl_status_t st = odl_arch_check(arch);

	if (st != ODL_OK) {
		return st;
	}
	memset(m, 0, sizeof(*m));
	m->arch = *arch;
	if (params != NULL) {
		st = check_params(params);
		if (st != ODL_OK) {
			return st;
		}
		m->params = *params;
		m->ops = odl_strategy_get(params->strategy);
		m->trainable = 1u;
	}
	return ODL_OK;
}

odl_status_t odl_model_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params,
				   size_t *bytes)
{
	odl_model_t dry;

	if (bytes == NULL) {
		return ODL_ERR_NULL;
	}
	odl_status_t st = prepare(&dry, arch, params);

	if (st != ODL_OK) {
		return st;
	}
	layout_shared(&dry, &dry.arena);
	size_t total = dry.arena.peak;

	if (dry.ops != NULL) {
		/* the strategy's part starts aligned, so the two parts add up */
		total = align_up(total) + dry.ops->arena_bytes(arch, params);
	}
	*bytes = total + (ODL_ALIGN - 1u); /* room to align an unaligned arena */
	return ODL_OK;
}

odl_status_t odl_model_init(odl_model_t *model, const odl_arch_t *arch,
			    const odl_train_params_t *params, void *arena, size_t arena_size)
{
	odl_model_t m;

	if (model == NULL || arena == NULL) {
		return ODL_ERR_NULL;
	}
	odl_status_t st = prepare(&m, arch, params);

	if (st != ODL_OK) {
		return st;
	}
	size_t needed = 0;

	(void)odl_model_arena_bytes(arch, params, &needed);
	if (arena_size < needed) {
		return ODL_ERR_ARENA_TOO_SMALL;
	}
	uintptr_t base = (uintptr_t)arena;
	size_t pad = (size_t)((ODL_ALIGN - (base & (ODL_ALIGN - 1u))) & (ODL_ALIGN - 1u));

	m.arena.base = (uint8_t *)arena + pad;
	m.arena.size = arena_size - pad;
	/* zeroed first: the strategy keeps its own pointers in the arena */
	memset(m.arena.base, 0, needed - (ODL_ALIGN - 1u));
	layout_shared(&m, &m.arena);
	if (m.ops != NULL) {
		m.ops->layout(&m, &m.arena);
	}
	if (m.ops != NULL) {
		m.ops->reset(&m);
	}
	m.weights_ok = 1u;
	*model = m;
	return ODL_OK;
}

/*
 * Growth hook (odl_grow.c): lay the model out again for a larger arch in the
 * same arena. The caller has already moved the parameters to arch's blob
 * order at the arena's start; everything after them (activations, error
 * buffers, the strategy's buffers) is zeroed and carved anew, training state
 * is reset, statistics are kept. The caller checked that arch fits.
 */
void odl_model_relayout(odl_model_t *m, const odl_arch_t *arch)
{
	const odl_stats_t stats = m->stats;
	const size_t peak = m->arena.peak;
	const size_t n_params = odl_arch_param_count(arch) * sizeof(float);
	size_t needed = 0;

	(void)odl_model_arena_bytes(arch, m->trainable ? &m->params : NULL, &needed);
	needed -= ODL_ALIGN - 1u;
	memset(m->arena.base + n_params, 0, needed - n_params);
	m->arch = *arch;
	m->arena.used = 0;
	m->arena.peak = 0;
	layout_shared(m, &m->arena);
	if (m->ops != NULL) {
		m->ops->layout(m, &m->arena);
	}
	odl_model_reset_training_state(m);
	m->stats = stats;
	if (peak > m->arena.peak) {
		m->arena.peak = peak;
	}
}

void odl_model_reset_training_state(odl_model_t *m)
{
	for (unsigned l = 0; l < m->arch.n_layers; l++) {
		odl_layer_t *ly = &m->layers[l];

		if (ly->vw != NULL) {
			memset(ly->vw, 0, (size_t)ly->n_out * ly->n_in * sizeof(float));
			memset(ly->vb, 0, ly->n_out * sizeof(float));
		}
		/* new weights are the new L2-SP anchor */
		if (ly->w0 != NULL) {
			memcpy(ly->w0, ly->w, (size_t)ly->n_out * ly->n_in * sizeof(float));
			memcpy(ly->b0, ly->b, ly->n_out * sizeof(float));
		}
	}
	if (m->ops != NULL) {
		m->ops->reset(m);
	}
	memset(&m->stats, 0, sizeof(m->stats));
}

odl_status_t odl_model_init_weights(odl_model_t *model, uint32_t seed)
{
	if (model == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	uint32_t state = odl_rng_seed(seed);

	for (unsigned l = 0; l < model->arch.n_layers; l++) {
		odl_layer_t *ly = &model->layers[l];
		const float limit = sqrtf(6.0f / (float)ly->n_in);
		const size_t n = (size_t)ly->n_out * ly->n_in;

		for (size_t i = 0; i < n; i++) {
			ly->w[i] = (2.0f * odl_rng_uniform(&state) - 1.0f) * limit;
		}
		memset(ly->b, 0, ly->n_out * sizeof(float));
	}
	odl_model_reset_training_state(model);
	model->weights_ok = 1u;
	return ODL_OK;
}

odl_status_t odl_model_set_clock(odl_model_t *model, odl_cycle_fn fn, void *ctx)
{
	if (model == NULL) {
		return ODL_ERR_NULL;
	}
	model->clock = fn;
	model->clock_ctx = ctx;
	return ODL_OK;
}

odl_status_t odl_model_get_stats(const odl_model_t *model, odl_stats_t *stats)
{
	if (model == NULL || stats == NULL) {
		return ODL_ERR_NULL;
	}
	*stats = model->stats;
	return ODL_OK;
}

odl_status_t odl_model_arena_peak(const odl_model_t *model, size_t *bytes)
{
	if (model == NULL || bytes == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	*bytes = model->arena.peak;
	return ODL_OK;
}

odl_status_t odl_model_reset_stats(odl_model_t *model)
{
	if (model == NULL) {
		return ODL_ERR_NULL;
	}
	memset(&model->stats, 0, sizeof(model->stats));
	return ODL_OK;
}

/* Softmax in place over the logits, shifted by the max for range. */
static void softmax_in_place(odl_layer_t *top)
{
	float zmax = top->out[0];

	for (uint16_t i = 1; i < top->n_out; i++) {
		if (top->out[i] > zmax) {
			zmax = top->out[i];
		}
	}
	float sum = 0.0f;

	for (uint16_t i = 0; i < top->n_out; i++) {
		top->out[i] = odl_exp(top->out[i] - zmax);
		sum += top->out[i];
	}
	for (uint16_t i = 0; i < top->n_out; i++) {
		top->out[i] /= sum;
	}
}

/* Sequential float32 sums in index order: the numpy twin reproduces this
 * order in its exact mode, and -ffp-contract=off keeps FMA out. */
uint32_t odl_forward(odl_model_t *m, const float *x, int softmax, uint32_t *cycles)
{
	const uint32_t t0 = odl_now(m);
	const unsigned n_layers = m->arch.n_layers;
	const float *in = x;
	uint32_t macs = 0;
	unsigned first = 0;

	for (unsigned l = 0; l < n_layers; l++) {
		macs += (uint32_t)m->layers[l].n_out * m->layers[l].n_in;
	}
	/* a strategy with its own hidden layers (last_layer_q8) */
	if (m->ops != NULL && m->ops->forward_hidden != NULL && n_layers > 1u) {
		first = n_layers - 1u;
		in = m->ops->forward_hidden(m, x);
	}
	for (unsigned l = first; l < n_layers; l++) {
		const odl_layer_t *ly = &m->layers[l];
		const int hidden = l + 1u < n_layers;
		const uint16_t n_in = ly->n_in;
		const uint16_t n_out = ly->n_out;
		const float *w = ly->w;
		const float *b = ly->b;
		float *out = ly->out;
		uint16_t i = 0;

		/* rows in pairs: they share the loads of the input */
		for (; i + 1u < n_out; i += 2u) {
			float acc0, acc1;

			odl_dot2(w, w + n_in, in, n_in, &acc0, &acc1);
			w += 2u * (size_t)n_in;
			acc0 += b[i];
			acc1 += b[i + 1u];
			out[i] = (hidden && acc0 < 0.0f) ? 0.0f : acc0;
			out[i + 1u] = (hidden && acc1 < 0.0f) ? 0.0f : acc1;
		}
		if (i < n_out) {
			float acc = odl_dot(0.0f, w, in, n_in);

			acc += b[i];
			out[i] = (hidden && acc < 0.0f) ? 0.0f : acc;
		}
		in = out;
	}

	if (softmax) {
		softmax_in_place(&m->layers[n_layers - 1u]);
	}

	const uint32_t dt = odl_now(m) - t0;

	odl_cycle_stat_add(&m->stats.forward, dt);
	m->stats.macs_forward += macs;
	if (cycles != NULL) {
		*cycles = dt;
	}
	return macs;
}

odl_status_t odl_model_predict(odl_model_t *model, const float *x, size_t n_x, float *probs,
			       size_t n_probs, uint16_t *predicted)
{
	if (model == NULL || x == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL || !model->weights_ok) {
		return ODL_ERR_STATE;
	}
	const odl_layer_t *top = &model->layers[model->arch.n_layers - 1u];

	if (n_x != model->arch.sizes[0] || (probs != NULL && n_probs != top->n_out)) {
		return ODL_ERR_LENGTH;
	}
	if (!odl_all_finite(x, n_x)) {
		return ODL_ERR_NONFINITE;
	}
	(void)odl_forward(model, x, probs != NULL, NULL);
	if (!odl_all_finite(top->out, top->n_out)) {
		return ODL_ERR_DIVERGED;
	}
	if (probs != NULL) {
		memcpy(probs, top->out, n_probs * sizeof(float));
	}
	if (predicted != NULL) {
		uint16_t best = 0;

		for (uint16_t i = 1; i < top->n_out; i++) {
			if (top->out[i] > top->out[best]) {
				best = i;
			}
		}
		*predicted = best;
	}
	return ODL_OK;
}

odl_status_t odl_model_selected(const odl_model_t *model, uint8_t layer, const uint16_t **rows,
				uint16_t *k)
{
	if (model == NULL || rows == NULL || k == NULL) {
		return ODL_ERR_NULL;
	}
	if (layer >= model->arch.n_layers) {
		return ODL_ERR_ARCH;
	}
	if (model->ops == NULL) {
		*rows = NULL; /* an inference-only model never selects */
		*k = 0;
		return ODL_OK;
	}
	model->ops->selected(model, layer, rows, k);
	return ODL_OK;
}
