/*
 * odl_model.h - a dense MLP that lives in a caller-provided arena.
 *
 * Model: up to ODL_MAX_LAYERS dense layers, float32, ReLU after every hidden
 * layer, softmax at the output (cross-entropy loss when training).
 *
 * Memory: the core never allocates. odl_model_t itself is a small struct the
 * caller owns (static or on a stack); weights, activations and error buffers,
 * then the strategy's own buffers (momentum velocities, TinyProp's row
 * indices and maxima) are carved from the caller's arena by odl_model_init().
 * odl_model_arena_bytes() tells beforehand how many bytes a layout needs,
 * computed by the same code that lays it out (each strategy sizes its own
 * part), so the two can never disagree. The arena must stay valid and untouched by the caller for
 * the model's lifetime.
 *
 * Threads: a model is not thread-safe; one caller at a time.
 */
#ifndef ODL_MODEL_H
#define ODL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "odl_config.h"
#include "odl_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Architecture: sizes[0] features, sizes[1..n_layers-1] hidden widths,
 * sizes[n_layers] classes. Entries past n_layers must be 0. */
typedef struct odl_arch {
	uint8_t n_layers;
	uint16_t sizes[ODL_MAX_LAYERS + 1];
} odl_arch_t;

/* Learning strategies: which weights a training step changes. */
typedef enum odl_strategy {
	ODL_STRATEGY_FULL = 0,       /* SGD backprop through every layer */
	ODL_STRATEGY_LAST_LAYER = 1, /* only the output layer learns */
	ODL_STRATEGY_TINYPROP = 2,   /* adaptive sparse backprop (Rueb et al. 2023) */
	ODL_STRATEGY_LAST_LAYER_Q8 = 3, /* int8 frozen hidden layers, float output layer learns */
	ODL_STRATEGY_COUNT
} odl_strategy_t;

/* Uncertainty scores computed from the softmax output (active learning). */
typedef enum odl_score_kind {
	ODL_SCORE_NONE = 0,             /* data point selection off */
	ODL_SCORE_LEAST_CONFIDENCE = 1, /* 1 - p1; high = uncertain */
	ODL_SCORE_MARGIN = 2,           /* p1 - p2; LOW = uncertain */
	ODL_SCORE_RATIO = 3,            /* p2 / p1; high = uncertain */
	ODL_SCORE_ENTROPY = 4,          /* -sum p ln p / ln C, in 0..1; high = uncertain */
	ODL_SCORE_COUNT
} odl_score_kind_t;

/*
 * Training parameters: one strategy plus the gates usable with any strategy.
 * Ranges are checked by odl_model_init() (ODL_ERR_PARAM / ODL_ERR_NONFINITE).
 */
typedef struct odl_train_params {
	uint32_t strategy;      /* odl_strategy_t */
	float learning_rate;    /* > 0 */
	float momentum;         /* 0 <= m < 1; 0 = plain SGD and no velocity buffers */
	/* TinyProp: 0 <= s_min <= s_max <= 1, 0 < zeta <= 1 */
	float tp_s_min;
	float tp_s_max;
	float tp_zeta;
	/* Skip gate ("decide to train"): the backward pass is skipped when the
	 * sample's error 1 - p[label] is below this; 0 turns the gate off. 0..1. */
	float gate_threshold;
	/* Data point selection: a sample is trained on only when its score says
	 * it is uncertain enough: score >= threshold, for MARGIN score <= threshold. */
	uint32_t select_score;  /* odl_score_kind_t */
	float select_threshold; /* 0..1 */
	/* Pseudo labels (odl_train_step_unlabelled): a sample without a label is
	 * labelled with its own prediction when its score says it is certain
	 * enough: score <= threshold for LEAST_CONFIDENCE, RATIO, ENTROPY,
	 * score >= threshold for MARGIN (odl_uncertainty_confident()); NONE
	 * labels every sample. Threshold 0..1. */
	uint32_t pseudo_score;  /* odl_score_kind_t */
	float pseudo_threshold; /* 0..1 */
	/* L2-SP: penalty lambda * ||W - W0||^2 toward the anchor W0 (the weights
	 * of the last load or initialisation), gradient 2 lambda (W - W0) added
	 * to every update. 0..1; 0 = off and no anchor in the arena. */
	float l2sp_lambda;
} odl_train_params_t;

/* Count, min, max and sum of a cycle measurement. */
typedef struct odl_cycle_stat {
	uint32_t count;
	uint32_t min;
	uint32_t max;
	uint64_t sum;
} odl_cycle_stat_t;

/* Running totals since init or odl_model_reset_stats(). */
typedef struct odl_stats {
	odl_cycle_stat_t forward;  /* every forward pass, inference included */
	odl_cycle_stat_t backward; /* error propagation and TinyProp selection */
	odl_cycle_stat_t update;   /* fused weight gradient and SGD write */
	uint64_t macs_forward;
	uint64_t macs_backward;      /* backward MACs actually done */
	uint64_t macs_backward_full; /* what full backprop would have done */
	uint32_t seen;     /* samples offered to odl_train_step() */
	uint32_t selected; /* of those, passed data point selection (labels asked for) */
	uint32_t trained;  /* of those, trained on (not skipped by the gate) */
	uint32_t skipped;  /* of those, skipped by the gate */
	uint64_t k_sum[ODL_MAX_LAYERS]; /* TinyProp rows selected, summed over trained steps */
	uint16_t k_min[ODL_MAX_LAYERS];
	uint16_t k_max[ODL_MAX_LAYERS];
} odl_stats_t;

/* Cycle counter supplied by the port; returns a free-running 32-bit count. */
typedef uint32_t (*odl_cycle_fn)(void *ctx);

/* One dense layer's views into the arena. Read-only for callers. */
typedef struct odl_layer {
	uint16_t n_in;
	uint16_t n_out;
	float *w;       /* n_out x n_in, row-major */
	float *b;       /* n_out */
	float *out;     /* activations after ReLU (logits then probabilities at the output) */
	float *vw;      /* momentum velocity for w, or NULL */
	float *vb;      /* momentum velocity for b, or NULL */
	float *w0;      /* L2-SP anchor of w, or NULL */
	float *b0;      /* L2-SP anchor of b, or NULL */
} odl_layer_t;

/* Bump allocator over the caller's arena; peak is the high-water mark. */
typedef struct odl_arena {
	uint8_t *base;
	size_t size;
	size_t used;
	size_t peak;
} odl_arena_t;

struct odl_strategy_ops; /* the strategy's function table (core-internal) */

typedef struct odl_model {
	odl_arch_t arch;
	odl_layer_t layers[ODL_MAX_LAYERS];
	float *delta[2];     /* ping-pong error buffers for the backward pass */
	odl_arena_t arena;
	odl_train_params_t params;
	const struct odl_strategy_ops *ops; /* NULL for an inference-only model */
	void *strategy_state; /* the strategy's own buffers, in the arena */
	uint8_t trainable;   /* initialised with training parameters */
	uint8_t weights_ok;  /* 0 after a failed streamed weight load */
	odl_cycle_fn clock;
	void *clock_ctx;
	odl_stats_t stats;
} odl_model_t;

/* Check an architecture against the compile-time maxima. */
odl_status_t odl_arch_check(const odl_arch_t *arch);

/* Number of float parameters (weights and biases) of an architecture, 0 if invalid. */
size_t odl_arch_param_count(const odl_arch_t *arch);

/* Fill params with the documented defaults for a strategy: learning rate
 * 0.01, no momentum, TinyProp S_min 0.1, S_max 0.9, zeta 0.5, gate and
 * selection off. */
odl_status_t odl_train_params_default(odl_train_params_t *params, odl_strategy_t strategy);

/*
 * Bytes of arena a layout needs: inference only when params is NULL, else
 * training under params (momentum and TinyProp add buffers).
 */
odl_status_t odl_model_arena_bytes(const odl_arch_t *arch, const odl_train_params_t *params,
				   size_t *bytes);

/*
 * Lay the model out in arena (arena_size bytes, any alignment). params NULL
 * makes an inference-only model. Weights are zero until
 * odl_model_init_weights() or a blob load. Nothing is written to *model or
 * the arena unless the result is ODL_OK.
 */
odl_status_t odl_model_init(odl_model_t *model, const odl_arch_t *arch,
			    const odl_train_params_t *params, void *arena, size_t arena_size);

/* He-uniform weights U(-sqrt(6/n_in), +sqrt(6/n_in)) from the xorshift32
 * stream of odl_rng.h seeded with seed, layer by layer, row-major; zero biases.
 * Resets TinyProp state, momentum and statistics. */
odl_status_t odl_model_init_weights(odl_model_t *model, uint32_t seed);

/* Use fn(ctx) as the cycle counter for per-phase cycle counts (NULL: none). */
odl_status_t odl_model_set_clock(odl_model_t *model, odl_cycle_fn fn, void *ctx);

/* Copy the running statistics out. */
odl_status_t odl_model_get_stats(const odl_model_t *model, odl_stats_t *stats);

/* Most arena bytes the model has used, from its aligned start. */
odl_status_t odl_model_arena_peak(const odl_model_t *model, size_t *bytes);

/* Clear statistics; TinyProp's Y_max and momentum are kept. */
odl_status_t odl_model_reset_stats(odl_model_t *model);

/*
 * Forward pass: x has n_x == sizes[0] finite floats; probs receives n_probs
 * == classes softmax probabilities. probs may be NULL when only the
 * predicted class is wanted: then no softmax is computed and *predicted is
 * the argmax of the logits (ties to the lower index); predicted may be NULL.
 */
odl_status_t odl_model_predict(odl_model_t *model, const float *x, size_t n_x, float *probs,
			       size_t n_probs, uint16_t *predicted);

/* Rows of layer that received gradients in the last training step, in rank
 * order (largest |delta| first; all rows for dense strategies). */
odl_status_t odl_model_selected(const odl_model_t *model, uint8_t layer, const uint16_t **rows,
				uint16_t *k);

#ifdef __cplusplus
}
#endif

#endif /* ODL_MODEL_H */
