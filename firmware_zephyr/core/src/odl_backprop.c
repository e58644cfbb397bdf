/* The backward pass and SGD update the strategies share, and the arena
 * helpers they size their state with. */
#include <string.h>

#include "odl_internal.h"
#include "odl_kernels.h"
#include "odl_strategy.h"

void *odl_arena_alloc(odl_arena_t *a, size_t bytes)
{
	size_t start = (a->used + (ODL_ALIGN - 1u)) & ~(size_t)(ODL_ALIGN - 1u);

	a->used = start + bytes;
	if (a->used > a->peak) {
		a->peak = a->used;
	}
	if (a->base == NULL || a->used > a->size) {
		return NULL;
	}
	return a->base + start;
}

size_t odl_arena_dry_bytes(void (*layout)(odl_model_t *m, odl_arena_t *a),
			   const odl_arch_t *arch, const odl_train_params_t *params)
{
	odl_model_t dry;

	memset(&dry, 0, sizeof(dry));
	dry.arch = *arch;
	dry.params = *params;
	dry.trainable = 1u;
	for (unsigned l = 0; l < arch->n_layers; l++) {
		dry.layers[l].n_in = arch->sizes[l];
		dry.layers[l].n_out = arch->sizes[l + 1u];
	}
	layout(&dry, &dry.arena);
	return dry.arena.peak;
}

void odl_velocity_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest)
{
	if (!(m->params.momentum > 0.0f)) {
		return;
	}
	for (unsigned l = lowest; l < m->arch.n_layers; l++) {
		odl_layer_t *ly = &m->layers[l];

		ly->vw = odl_arena_alloc(a, (size_t)ly->n_out * ly->n_in * sizeof(float));
		ly->vb = odl_arena_alloc(a, ly->n_out * sizeof(float));
	}
}

void odl_anchor_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest)
{
	if (!(m->params.l2sp_lambda > 0.0f)) {
		return;
	}
	size_t n = 0;

	for (unsigned l = lowest; l < m->arch.n_layers; l++) {
		n += (size_t)m->layers[l].n_out * ((size_t)m->layers[l].n_in + 1u);
	}
	/* one block in blob order, like the parameters it copies */
	float *anchor = odl_arena_alloc(a, n * sizeof(float));

	for (unsigned l = lowest; anchor != NULL && l < m->arch.n_layers; l++) {
		odl_layer_t *ly = &m->layers[l];

		ly->w0 = anchor;
		anchor += (size_t)ly->n_out * ly->n_in;
		ly->b0 = anchor;
		anchor += ly->n_out;
	}
}

/* Error of the picked rows passed down through the old weights, masked by
 * the ReLU of the layer below. */
static void pass_down(const odl_layer_t *ly, const float *delta, const uint16_t *rows,
		      uint16_t k, const float *a_in, float *down)
{
	int started = 0;

	for (uint16_t s = 0; s < k; s++) {
		const uint16_t row = rows != NULL ? rows[s] : s;
		const float d = delta[row];

		if (odl_is_zero(d)) {
			continue; /* adds +-0 to sums that are never -0: exact */
		}
		if (started) {
			odl_axpy(down, ly->w + (size_t)row * ly->n_in, d, ly->n_in);
		} else {
			odl_axpy_first(down, ly->w + (size_t)row * ly->n_in, d, ly->n_in);
			started = 1;
		}
	}
	if (!started) {
		memset(down, 0, ly->n_in * sizeof(float));
	}
	for (uint16_t j = 0; j < ly->n_in; j++) {
		if (!(a_in[j] > 0.0f)) {
			down[j] = 0.0f; /* ReLU passes no error where it was off */
		}
	}
}

/*
 * SGD on the picked rows and every bias. With an L2-SP anchor (w0 non-NULL)
 * the penalty's gradient l2 (w - w0), l2 = 2 lambda, joins the data gradient:
 * with momentum inside the velocity, v = (mu v + d a) + l2 (w - w0); without,
 * as its own step w -= (lr l2)(w - w0) before w -= (lr d) a. Only the picked
 * rows are pulled (all rows for the dense strategies, TinyProp's k rows for
 * TinyProp), so a sparse step stays sparse; biases are dense and all pulled.
 */
static void sgd(odl_layer_t *ly, const float *delta, const uint16_t *rows, uint16_t k,
		const float *a_in, float lr, float mom, float lambda)
{
	const float l2 = 2.0f * lambda;
	const float c = lr * l2;

	for (uint16_t s = 0; s < k; s++) {
		const uint16_t row = rows != NULL ? rows[s] : s;
		float *w = ly->w + (size_t)row * ly->n_in;
		const float *w0 = ly->w0 != NULL ? ly->w0 + (size_t)row * ly->n_in : NULL;
		const float d = delta[row];

		if (ly->vw != NULL) {
			float *v = ly->vw + (size_t)row * ly->n_in;

			if (w0 != NULL) {
				for (uint16_t j = 0; j < ly->n_in; j++) {
					v[j] = mom * v[j] + d * a_in[j] + l2 * (w[j] - w0[j]);
					w[j] -= lr * v[j];
				}
			} else {
				for (uint16_t j = 0; j < ly->n_in; j++) {
					v[j] = mom * v[j] + d * a_in[j];
					w[j] -= lr * v[j];
				}
			}
			continue;
		}
		if (w0 != NULL) {
			odl_l2sp_row(w, w0, c, ly->n_in); /* the penalty's step first */
		}
		if (!odl_is_zero(d)) { /* a zero error leaves the row as it is */
			odl_sgd_row(w, a_in, lr * d, ly->n_in);
		}
	}
	/* biases stay dense under every strategy */
	if (ly->vb != NULL) {
		for (uint16_t i = 0; i < ly->n_out; i++) {
			ly->vb[i] = mom * ly->vb[i] + delta[i];
			if (ly->b0 != NULL) {
				ly->vb[i] += l2 * (ly->b[i] - ly->b0[i]);
			}
			ly->b[i] -= lr * ly->vb[i];
		}
		return;
	}
	if (ly->b0 != NULL) {
		odl_l2sp_row(ly->b, ly->b0, c, ly->n_out);
	}
	/* the row kernel: per bias the steps of b -= lr * delta, one loop
	 * instead of one with both branches tested per bias */
	odl_sgd_row(ly->b, delta, lr, ly->n_out);
}

void odl_backprop(odl_model_t *m, const float *x, odl_step_result_t *r, unsigned lowest,
		  odl_pick_rows_fn pick, void *ctx)
{
	const unsigned n_layers = m->arch.n_layers;
	const float lr = m->params.learning_rate;
	const float mom = m->params.momentum;
	const float lambda = m->params.l2sp_lambda;
	unsigned cur = 0;

	for (unsigned l = n_layers; l-- > lowest;) {
		odl_layer_t *ly = &m->layers[l];
		const float *delta = m->delta[cur];
		const float *a_in = l > 0u ? m->layers[l - 1u].out : x;
		const uint32_t t0 = odl_now(m);
		const uint16_t *rows = NULL;
		const uint16_t k = pick != NULL ? pick(m, l, delta, &rows, ctx) : ly->n_out;
		const uint32_t rows_x_in = (uint32_t)k * ly->n_in;

		r->macs_backward += rows_x_in;
		if (l > lowest) {
			pass_down(ly, delta, rows, k, a_in, m->delta[cur ^ 1u]);
			r->macs_backward += rows_x_in;
		}
		const uint32_t t1 = odl_now(m);

		sgd(ly, delta, rows, k, a_in, lr, mom, lambda);
		const uint32_t t2 = odl_now(m);

		r->cycles_backward += t1 - t0;
		r->cycles_update += t2 - t1;
		r->k[l] = k;
		cur ^= 1u;
	}
}

/* ---- dense strategies: every row of every trainable layer ---- */

void odl_dense_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest)
{
	odl_dense_layout_sized(m, a, lowest, sizeof(struct odl_dense_state));
}

void odl_dense_layout_sized(odl_model_t *m, odl_arena_t *a, unsigned lowest, size_t state_bytes)
{
	uint16_t widest = 0;

	for (unsigned l = lowest; l < m->arch.n_layers; l++) {
		if (m->layers[l].n_out > widest) {
			widest = m->layers[l].n_out;
		}
	}
	struct odl_dense_state *s = odl_arena_alloc(a, state_bytes);
	uint16_t *rows = odl_arena_alloc(a, widest * sizeof(uint16_t));

	m->strategy_state = s;
	if (s != NULL) {
		s->rows = rows;
		s->n_rows = widest;
	}
	odl_velocity_layout(m, a, lowest);
	odl_anchor_layout(m, a, lowest);
}

void odl_dense_reset(odl_model_t *m)
{
	struct odl_dense_state *s = m->strategy_state;

	memset(s->k, 0, sizeof(s->k));
	for (uint16_t i = 0; i < s->n_rows; i++) {
		s->rows[i] = i;
	}
}

void odl_dense_begin_step(odl_model_t *m)
{
	struct odl_dense_state *s = m->strategy_state;

	memset(s->k, 0, sizeof(s->k));
}

void odl_dense_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r,
			       unsigned lowest)
{
	struct odl_dense_state *s = m->strategy_state;

	odl_backprop(m, x, r, lowest, NULL, NULL);
	for (unsigned l = lowest; l < m->arch.n_layers; l++) {
		s->k[l] = r->k[l];
	}
}

void odl_dense_selected(const odl_model_t *m, unsigned layer, const uint16_t **rows, uint16_t *k)
{
	const struct odl_dense_state *s = m->strategy_state;

	*k = s->k[layer];
	*rows = s->rows;
}
