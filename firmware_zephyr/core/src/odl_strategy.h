/*
 * odl_strategy.h - the learning strategies behind one function table (as
 * Zephyr drivers use API structs), one source file per strategy. Not part of
 * the public API.
 *
 * A strategy owns which layers learn, which rows of a layer get gradients,
 * and whatever state that choice needs; it sizes that state itself
 * (arena_bytes, as CMSIS-NN's *_get_buffer_size does per operator) and carves
 * it from the model's arena after the shared buffers (weights, activations,
 * error buffers). Adding a strategy: one odl_strategy_<name>.c with its ops,
 * one enum value in odl_model.h, one entry in odl_strategy.c's table.
 */
#ifndef ODL_STRATEGY_H
#define ODL_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

#include "odl/odl_train.h"

struct odl_strategy_ops {
	/* Bytes of arena the strategy's own buffers take for arch under params,
	 * from an 8-aligned start (the same code as layout, run dry). */
	size_t (*arena_bytes)(const odl_arch_t *arch, const odl_train_params_t *params);
	/* Carve the strategy's buffers from a (a->base NULL: dry run, sizing
	 * only); sets m->strategy_state. */
	void (*layout)(odl_model_t *m, odl_arena_t *a);
	/* Forget everything learnt (new weights): also called once after init,
	 * on a zeroed arena. */
	void (*reset)(odl_model_t *m);
	/* A step begins: nothing is selected until backward_update runs. */
	void (*begin_step)(odl_model_t *m);
	/* Backward pass and SGD update from the output error in m->delta[0];
	 * x is the step's input. Fills r's k, MACs and cycles. */
	void (*backward_update)(odl_model_t *m, const float *x, odl_step_result_t *r);
	/* Rows of layer given gradients in the last step, in rank order. */
	void (*selected)(const odl_model_t *m, unsigned layer, const uint16_t **rows, uint16_t *k);
	/* Optional (NULL: the float forward pass): run every hidden layer the
	 * strategy's own way and return the output layer's float input (n_in
	 * values, kept until the step's update). Called only for n_layers > 1. */
	const float *(*forward_hidden)(odl_model_t *m, const float *x);
};

/* The table entry for a strategy id, NULL when unknown. */
const struct odl_strategy_ops *odl_strategy_get(uint32_t strategy);

extern const struct odl_strategy_ops odl_strategy_full_ops;
extern const struct odl_strategy_ops odl_strategy_last_layer_ops;
extern const struct odl_strategy_ops odl_strategy_tinyprop_ops;
extern const struct odl_strategy_ops odl_strategy_last_layer_q8_ops;

/* ---- pieces the strategies share (odl_backprop.c) ---- */

#define ODL_ALIGN 8u

/* Bump allocation; with a NULL base it only counts (dry run for sizing). */
void *odl_arena_alloc(odl_arena_t *a, size_t bytes);

/* Bytes a layout function needs from an aligned start, by a dry run. */
size_t odl_arena_dry_bytes(void (*layout)(odl_model_t *m, odl_arena_t *a),
			   const odl_arch_t *arch, const odl_train_params_t *params);

/* Momentum velocities for layers lowest..n_layers-1 (none without momentum). */
void odl_velocity_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest);

/* L2-SP anchor (w0, b0) of layers lowest..n_layers-1, one block in blob
 * order (none when l2sp_lambda is 0); filled when weights are set
 * (odl_model_reset_training_state). */
void odl_anchor_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest);

/*
 * Rows chosen for a layer during the backward pass: pick(m, layer, delta,
 * rows, ctx) returns k and points *rows at k row indices in rank order.
 */
typedef uint16_t (*odl_pick_rows_fn)(odl_model_t *m, unsigned layer, const float *delta,
				     const uint16_t **rows, void *ctx);

/*
 * The backward pass every strategy here shares: from the output layer down
 * to lowest, pass the error of the picked rows down (with the old weights,
 * ReLU mask), then SGD on the picked rows (fused gradient, never stored) and
 * on every bias. pick NULL means all rows (dense).
 */
void odl_backprop(odl_model_t *m, const float *x, odl_step_result_t *r, unsigned lowest,
		  odl_pick_rows_fn pick, void *ctx);

/* Dense strategies' state: per layer k of the last step, identity rows. */
struct odl_dense_state {
	uint16_t k[ODL_MAX_LAYERS]; /* rows given gradients in the last step */
	uint16_t *rows;             /* 0, 1, 2, ... as wide as the widest layer */
	uint16_t n_rows;
};

void odl_dense_layout(odl_model_t *m, odl_arena_t *a, unsigned lowest);
/* The same with state_bytes >= sizeof(struct odl_dense_state) for the state
 * block: a strategy whose state begins with a struct odl_dense_state. */
void odl_dense_layout_sized(odl_model_t *m, odl_arena_t *a, unsigned lowest, size_t state_bytes);
void odl_dense_reset(odl_model_t *m);
void odl_dense_begin_step(odl_model_t *m);
void odl_dense_backward_update(odl_model_t *m, const float *x, odl_step_result_t *r,
			       unsigned lowest);
void odl_dense_selected(const odl_model_t *m, unsigned layer, const uint16_t **rows, uint16_t *k);

#endif /* ODL_STRATEGY_H */
