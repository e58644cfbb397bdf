/*
 * odl_wire_gen.h - GENERATED from protocol/wire.toml by
 * `python -m hil_service.tools.gen_wire`: do not edit (docs/protocol.md).
 *
 * Body sizes and field offsets of every message, get/put codecs of the fixed
 * heads, and the range check of odl_train_params_t, with _Static_asserts that
 * the hand-written headers (odl_model.h, odl_proto.h) agree with the table.
 */
#ifndef ODL_WIRE_GEN_H
#define ODL_WIRE_GEN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "odl/odl_config.h"
#include "odl/odl_model.h"
#include "odl/odl_status.h"
#include "odl_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ODL_WIRE_PROTO_VERSION 5u
_Static_assert(ODL_PROTO_VERSION == ODL_WIRE_PROTO_VERSION, "odl_proto.h and wire.toml disagree on the protocol version");

/* --- enumerations ------------------------------------------------------ */
_Static_assert(ODL_STRATEGY_FULL == 0, "strategy full is 0 in wire.toml");
_Static_assert(ODL_STRATEGY_LAST_LAYER == 1, "strategy last_layer is 1 in wire.toml");
_Static_assert(ODL_STRATEGY_TINYPROP == 2, "strategy tinyprop is 2 in wire.toml");
_Static_assert(ODL_STRATEGY_LAST_LAYER_Q8 == 3, "strategy last_layer_q8 is 3 in wire.toml");
_Static_assert(ODL_STRATEGY_COUNT == 4, "wire.toml lists 4 strategy values");
_Static_assert(ODL_SCORE_NONE == 0, "score none is 0 in wire.toml");
_Static_assert(ODL_SCORE_LEAST_CONFIDENCE == 1, "score least_confidence is 1 in wire.toml");
_Static_assert(ODL_SCORE_MARGIN == 2, "score margin is 2 in wire.toml");
_Static_assert(ODL_SCORE_RATIO == 3, "score ratio is 3 in wire.toml");
_Static_assert(ODL_SCORE_ENTROPY == 4, "score entropy is 4 in wire.toml");
_Static_assert(ODL_SCORE_COUNT == 5, "wire.toml lists 5 score values");

/* --- training parameters (odl_train_params_t) ------------------------- */

/* ERROR detail of a refused CONFIGURE: which parameter (0: none). */
enum odl_wire_param {
	ODL_WIRE_PARAM_NONE = 0,
	ODL_WIRE_PARAM_STRATEGY = 1, /* which weights a training step changes */
	ODL_WIRE_PARAM_LEARNING_RATE = 2, /* SGD step size */
	ODL_WIRE_PARAM_MOMENTUM = 3, /* heavy-ball momentum; 0 = plain SGD and no velocity buffers */
	ODL_WIRE_PARAM_S_MIN = 4, /* TinyProp: smallest share of rows given gradients */
	ODL_WIRE_PARAM_S_MAX = 5, /* TinyProp: largest share of rows given gradients */
	ODL_WIRE_PARAM_ZETA = 6, /* TinyProp: damping of the share per layer going backwards */
	ODL_WIRE_PARAM_GATE_THRESHOLD = 7, /* skip gate: no backward pass when 1 - p[label] is below this; 0 = off */
	ODL_WIRE_PARAM_SELECT_SCORE = 8, /* data point selection score; none = off */
	ODL_WIRE_PARAM_SELECT_THRESHOLD = 9, /* train only when score >= threshold (margin: score <= threshold) */
	ODL_WIRE_PARAM_PSEUDO_SCORE = 10, /* unlabelled TRAIN: score that decides whether a prediction becomes a pseudo label; none = every one */
	ODL_WIRE_PARAM_PSEUDO_THRESHOLD = 11, /* pseudo label when score <= threshold (margin: score >= threshold), else the sample is skipped */
	ODL_WIRE_PARAM_L2SP_LAMBDA = 12, /* L2-SP: penalty lambda * |W - W0|^2 toward the last loaded weights; 0 = off */
};
#define ODL_WIRE_PARAM_COUNT 12u

_Static_assert(offsetof(odl_train_params_t, strategy) == 0u, "odl_train_params_t.strategy moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->strategy) == 4u, "odl_train_params_t.strategy is not a uint32_t");
_Static_assert(offsetof(odl_train_params_t, learning_rate) == 4u, "odl_train_params_t.learning_rate moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->learning_rate) == 4u, "odl_train_params_t.learning_rate is not a float");
_Static_assert(offsetof(odl_train_params_t, momentum) == 8u, "odl_train_params_t.momentum moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->momentum) == 4u, "odl_train_params_t.momentum is not a float");
_Static_assert(offsetof(odl_train_params_t, tp_s_min) == 12u, "odl_train_params_t.tp_s_min moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->tp_s_min) == 4u, "odl_train_params_t.tp_s_min is not a float");
_Static_assert(offsetof(odl_train_params_t, tp_s_max) == 16u, "odl_train_params_t.tp_s_max moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->tp_s_max) == 4u, "odl_train_params_t.tp_s_max is not a float");
_Static_assert(offsetof(odl_train_params_t, tp_zeta) == 20u, "odl_train_params_t.tp_zeta moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->tp_zeta) == 4u, "odl_train_params_t.tp_zeta is not a float");
_Static_assert(offsetof(odl_train_params_t, gate_threshold) == 24u, "odl_train_params_t.gate_threshold moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->gate_threshold) == 4u, "odl_train_params_t.gate_threshold is not a float");
_Static_assert(offsetof(odl_train_params_t, select_score) == 28u, "odl_train_params_t.select_score moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->select_score) == 4u, "odl_train_params_t.select_score is not a uint32_t");
_Static_assert(offsetof(odl_train_params_t, select_threshold) == 32u, "odl_train_params_t.select_threshold moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->select_threshold) == 4u, "odl_train_params_t.select_threshold is not a float");
_Static_assert(offsetof(odl_train_params_t, pseudo_score) == 36u, "odl_train_params_t.pseudo_score moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->pseudo_score) == 4u, "odl_train_params_t.pseudo_score is not a uint32_t");
_Static_assert(offsetof(odl_train_params_t, pseudo_threshold) == 40u, "odl_train_params_t.pseudo_threshold moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->pseudo_threshold) == 4u, "odl_train_params_t.pseudo_threshold is not a float");
_Static_assert(offsetof(odl_train_params_t, l2sp_lambda) == 44u, "odl_train_params_t.l2sp_lambda moved: edit wire.toml and regenerate");
_Static_assert(sizeof(((odl_train_params_t *)0)->l2sp_lambda) == 4u, "odl_train_params_t.l2sp_lambda is not a float");
_Static_assert(sizeof(odl_train_params_t) == 48u, "odl_train_params_t has members wire.toml does not list");

#define ODL_WIRE_LEARNING_RATE_MIN 0.0f /* exclusive */
#define ODL_WIRE_LEARNING_RATE_MAX 10.0f
#define ODL_WIRE_MOMENTUM_MIN 0.0f
#define ODL_WIRE_MOMENTUM_MAX 1.0f /* exclusive */
#define ODL_WIRE_S_MIN_MIN 0.0f
#define ODL_WIRE_S_MIN_MAX 1.0f
#define ODL_WIRE_S_MAX_MIN 0.0f
#define ODL_WIRE_S_MAX_MAX 1.0f
#define ODL_WIRE_ZETA_MIN 0.0f /* exclusive */
#define ODL_WIRE_ZETA_MAX 1.0f
#define ODL_WIRE_GATE_THRESHOLD_MIN 0.0f
#define ODL_WIRE_GATE_THRESHOLD_MAX 1.0f
#define ODL_WIRE_SELECT_THRESHOLD_MIN 0.0f
#define ODL_WIRE_SELECT_THRESHOLD_MAX 1.0f
#define ODL_WIRE_PSEUDO_THRESHOLD_MIN 0.0f
#define ODL_WIRE_PSEUDO_THRESHOLD_MAX 1.0f
#define ODL_WIRE_L2SP_LAMBDA_MIN 0.0f
#define ODL_WIRE_L2SP_LAMBDA_MAX 1.0f

/*
 * The table's ranges, checked in table order: ODL_OK, or the status a core
 * refusal would carry (ODL_ERR_STRATEGY for an enum, ODL_ERR_NONFINITE,
 * ODL_ERR_PARAM) with *param naming the parameter (enum odl_wire_param).
 */
static inline odl_status_t odl_wire_check_train_params(const odl_train_params_t *p, uint16_t *param)
{
	*param = ODL_WIRE_PARAM_NONE;
	if (p->strategy >= 4u) {
		*param = ODL_WIRE_PARAM_STRATEGY;
		return ODL_ERR_STRATEGY;
	}
	if (!isfinite(p->learning_rate)) {
		*param = ODL_WIRE_PARAM_LEARNING_RATE;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->learning_rate > ODL_WIRE_LEARNING_RATE_MIN && p->learning_rate <= ODL_WIRE_LEARNING_RATE_MAX)) {
		*param = ODL_WIRE_PARAM_LEARNING_RATE;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->momentum)) {
		*param = ODL_WIRE_PARAM_MOMENTUM;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->momentum >= ODL_WIRE_MOMENTUM_MIN && p->momentum < ODL_WIRE_MOMENTUM_MAX)) {
		*param = ODL_WIRE_PARAM_MOMENTUM;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->tp_s_min)) {
		*param = ODL_WIRE_PARAM_S_MIN;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->tp_s_min >= ODL_WIRE_S_MIN_MIN && p->tp_s_min <= ODL_WIRE_S_MIN_MAX)) {
		*param = ODL_WIRE_PARAM_S_MIN;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->tp_s_max)) {
		*param = ODL_WIRE_PARAM_S_MAX;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->tp_s_max >= ODL_WIRE_S_MAX_MIN && p->tp_s_max <= ODL_WIRE_S_MAX_MAX)) {
		*param = ODL_WIRE_PARAM_S_MAX;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->tp_zeta)) {
		*param = ODL_WIRE_PARAM_ZETA;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->tp_zeta > ODL_WIRE_ZETA_MIN && p->tp_zeta <= ODL_WIRE_ZETA_MAX)) {
		*param = ODL_WIRE_PARAM_ZETA;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->gate_threshold)) {
		*param = ODL_WIRE_PARAM_GATE_THRESHOLD;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->gate_threshold >= ODL_WIRE_GATE_THRESHOLD_MIN && p->gate_threshold <= ODL_WIRE_GATE_THRESHOLD_MAX)) {
		*param = ODL_WIRE_PARAM_GATE_THRESHOLD;
		return ODL_ERR_PARAM;
	}
	if (p->select_score >= 5u) {
		*param = ODL_WIRE_PARAM_SELECT_SCORE;
		return ODL_ERR_STRATEGY;
	}
	if (!isfinite(p->select_threshold)) {
		*param = ODL_WIRE_PARAM_SELECT_THRESHOLD;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->select_threshold >= ODL_WIRE_SELECT_THRESHOLD_MIN && p->select_threshold <= ODL_WIRE_SELECT_THRESHOLD_MAX)) {
		*param = ODL_WIRE_PARAM_SELECT_THRESHOLD;
		return ODL_ERR_PARAM;
	}
	if (p->pseudo_score >= 5u) {
		*param = ODL_WIRE_PARAM_PSEUDO_SCORE;
		return ODL_ERR_STRATEGY;
	}
	if (!isfinite(p->pseudo_threshold)) {
		*param = ODL_WIRE_PARAM_PSEUDO_THRESHOLD;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->pseudo_threshold >= ODL_WIRE_PSEUDO_THRESHOLD_MIN && p->pseudo_threshold <= ODL_WIRE_PSEUDO_THRESHOLD_MAX)) {
		*param = ODL_WIRE_PARAM_PSEUDO_THRESHOLD;
		return ODL_ERR_PARAM;
	}
	if (!isfinite(p->l2sp_lambda)) {
		*param = ODL_WIRE_PARAM_L2SP_LAMBDA;
		return ODL_ERR_NONFINITE;
	}
	if (!(p->l2sp_lambda >= ODL_WIRE_L2SP_LAMBDA_MIN && p->l2sp_lambda <= ODL_WIRE_L2SP_LAMBDA_MAX)) {
		*param = ODL_WIRE_PARAM_L2SP_LAMBDA;
		return ODL_ERR_PARAM;
	}
	if (!(p->tp_s_min <= p->tp_s_max)) {
		*param = ODL_WIRE_PARAM_S_MIN;
		return ODL_ERR_PARAM;
	}
	return ODL_OK;
}

/* --- structs inside bodies ---------------------------------------------- */

#define ODL_WIRE_CYCLE_STAT_BYTES 20u
#define ODL_WIRE_CYCLE_STAT_COUNT_OFF 0u
#define ODL_WIRE_CYCLE_STAT_MIN_OFF 4u
#define ODL_WIRE_CYCLE_STAT_MAX_OFF 8u
#define ODL_WIRE_CYCLE_STAT_SUM_OFF 12u

/* cycle_stat */
typedef struct odl_wire_cycle_stat {
	uint32_t count;
	uint32_t min;
	uint32_t max;
	uint64_t sum;
} odl_wire_cycle_stat_t;

static inline void odl_wire_cycle_stat_get(const uint8_t *b, odl_wire_cycle_stat_t *m)
{
	m->count = odl_get_u32(b + ODL_WIRE_CYCLE_STAT_COUNT_OFF);
	m->min = odl_get_u32(b + ODL_WIRE_CYCLE_STAT_MIN_OFF);
	m->max = odl_get_u32(b + ODL_WIRE_CYCLE_STAT_MAX_OFF);
	m->sum = odl_get_u64(b + ODL_WIRE_CYCLE_STAT_SUM_OFF);
}

static inline size_t odl_wire_cycle_stat_put(uint8_t *b, const odl_wire_cycle_stat_t *m)
{
	odl_put_u32(b + ODL_WIRE_CYCLE_STAT_COUNT_OFF, m->count);
	odl_put_u32(b + ODL_WIRE_CYCLE_STAT_MIN_OFF, m->min);
	odl_put_u32(b + ODL_WIRE_CYCLE_STAT_MAX_OFF, m->max);
	odl_put_u64(b + ODL_WIRE_CYCLE_STAT_SUM_OFF, m->sum);
	return 20u;
}

#define ODL_WIRE_LAYER_K_BYTES 16u
#define ODL_WIRE_LAYER_K_K_SUM_OFF 0u
#define ODL_WIRE_LAYER_K_K_MIN_OFF 8u
#define ODL_WIRE_LAYER_K_K_MAX_OFF 10u
#define ODL_WIRE_LAYER_K_RESERVED_OFF 12u

/* layer_k */
typedef struct odl_wire_layer_k {
	uint64_t k_sum;
	uint16_t k_min;
	uint16_t k_max;
	uint32_t reserved;
} odl_wire_layer_k_t;

static inline void odl_wire_layer_k_get(const uint8_t *b, odl_wire_layer_k_t *m)
{
	m->k_sum = odl_get_u64(b + ODL_WIRE_LAYER_K_K_SUM_OFF);
	m->k_min = odl_get_u16(b + ODL_WIRE_LAYER_K_K_MIN_OFF);
	m->k_max = odl_get_u16(b + ODL_WIRE_LAYER_K_K_MAX_OFF);
	m->reserved = odl_get_u32(b + ODL_WIRE_LAYER_K_RESERVED_OFF);
}

static inline size_t odl_wire_layer_k_put(uint8_t *b, const odl_wire_layer_k_t *m)
{
	odl_put_u64(b + ODL_WIRE_LAYER_K_K_SUM_OFF, m->k_sum);
	odl_put_u16(b + ODL_WIRE_LAYER_K_K_MIN_OFF, m->k_min);
	odl_put_u16(b + ODL_WIRE_LAYER_K_K_MAX_OFF, m->k_max);
	odl_put_u32(b + ODL_WIRE_LAYER_K_RESERVED_OFF, m->reserved);
	return 16u;
}

#define ODL_WIRE_PREDICTION_BYTES 14u
#define ODL_WIRE_PREDICTION_PREDICTED_OFF 0u
#define ODL_WIRE_PREDICTION_SECOND_OFF 1u
#define ODL_WIRE_PREDICTION_P1_OFF 2u
#define ODL_WIRE_PREDICTION_P2_OFF 6u
#define ODL_WIRE_PREDICTION_SCORE_OFF 10u

/* prediction */
typedef struct odl_wire_prediction {
	uint8_t predicted;
	uint8_t second;
	float p1;
	float p2;
	float score;
} odl_wire_prediction_t;

static inline void odl_wire_prediction_get(const uint8_t *b, odl_wire_prediction_t *m)
{
	m->predicted = (b + ODL_WIRE_PREDICTION_PREDICTED_OFF)[0];
	m->second = (b + ODL_WIRE_PREDICTION_SECOND_OFF)[0];
	m->p1 = odl_get_f32(b + ODL_WIRE_PREDICTION_P1_OFF);
	m->p2 = odl_get_f32(b + ODL_WIRE_PREDICTION_P2_OFF);
	m->score = odl_get_f32(b + ODL_WIRE_PREDICTION_SCORE_OFF);
}

static inline size_t odl_wire_prediction_put(uint8_t *b, const odl_wire_prediction_t *m)
{
	(b + ODL_WIRE_PREDICTION_PREDICTED_OFF)[0] = m->predicted;
	(b + ODL_WIRE_PREDICTION_SECOND_OFF)[0] = m->second;
	odl_put_f32(b + ODL_WIRE_PREDICTION_P1_OFF, m->p1);
	odl_put_f32(b + ODL_WIRE_PREDICTION_P2_OFF, m->p2);
	odl_put_f32(b + ODL_WIRE_PREDICTION_SCORE_OFF, m->score);
	return 14u;
}

/* --- message bodies ---------------------------------------------------- */

#define ODL_WIRE_HELLO_CMD 0x01u
#define ODL_WIRE_HELLO_BYTES 0u
_Static_assert(ODL_WIRE_HELLO_BYTES <= ODL_PROTO_MAX_BODY, "hello does not fit a body");

#define ODL_WIRE_HELLO_REPLY_CMD 0x81u
#define ODL_WIRE_HELLO_REPLY_HEAD_BYTES 26u
_Static_assert(ODL_WIRE_HELLO_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "hello_reply does not fit a body");
#define ODL_WIRE_HELLO_REPLY_PROTOCOL_VERSION_OFF 0u
#define ODL_WIRE_HELLO_REPLY_MAX_LAYERS_OFF 1u
#define ODL_WIRE_HELLO_REPLY_MAX_INPUTS_OFF 2u
#define ODL_WIRE_HELLO_REPLY_MAX_NEURONS_OFF 4u
#define ODL_WIRE_HELLO_REPLY_MAX_BODY_OFF 6u
#define ODL_WIRE_HELLO_REPLY_RX_CAPACITY_OFF 8u
#define ODL_WIRE_HELLO_REPLY_CYCLES_HZ_OFF 12u
#define ODL_WIRE_HELLO_REPLY_ARENA_SIZE_OFF 16u
#define ODL_WIRE_HELLO_REPLY_STACK_SIZE_OFF 20u
#define ODL_WIRE_HELLO_REPLY_STRATEGIES_MASK_OFF 24u
#define ODL_WIRE_HELLO_REPLY_SCORES_MASK_OFF 25u
/* then: str fw_version, str git_hash, str board, bytes device_id, u16 last_seq, u8 last_seq_valid, u16 frag_max */

/* hello_reply: its fixed head */
typedef struct odl_wire_hello_reply {
	uint8_t protocol_version;
	uint8_t max_layers;
	uint16_t max_inputs;
	uint16_t max_neurons;
	uint16_t max_body;
	uint32_t rx_capacity;
	uint32_t cycles_hz;
	uint32_t arena_size;
	uint32_t stack_size;
	uint8_t strategies_mask;
	uint8_t scores_mask;
} odl_wire_hello_reply_t;

static inline void odl_wire_hello_reply_get(const uint8_t *b, odl_wire_hello_reply_t *m)
{
	m->protocol_version = (b + ODL_WIRE_HELLO_REPLY_PROTOCOL_VERSION_OFF)[0];
	m->max_layers = (b + ODL_WIRE_HELLO_REPLY_MAX_LAYERS_OFF)[0];
	m->max_inputs = odl_get_u16(b + ODL_WIRE_HELLO_REPLY_MAX_INPUTS_OFF);
	m->max_neurons = odl_get_u16(b + ODL_WIRE_HELLO_REPLY_MAX_NEURONS_OFF);
	m->max_body = odl_get_u16(b + ODL_WIRE_HELLO_REPLY_MAX_BODY_OFF);
	m->rx_capacity = odl_get_u32(b + ODL_WIRE_HELLO_REPLY_RX_CAPACITY_OFF);
	m->cycles_hz = odl_get_u32(b + ODL_WIRE_HELLO_REPLY_CYCLES_HZ_OFF);
	m->arena_size = odl_get_u32(b + ODL_WIRE_HELLO_REPLY_ARENA_SIZE_OFF);
	m->stack_size = odl_get_u32(b + ODL_WIRE_HELLO_REPLY_STACK_SIZE_OFF);
	m->strategies_mask = (b + ODL_WIRE_HELLO_REPLY_STRATEGIES_MASK_OFF)[0];
	m->scores_mask = (b + ODL_WIRE_HELLO_REPLY_SCORES_MASK_OFF)[0];
}

static inline size_t odl_wire_hello_reply_put(uint8_t *b, const odl_wire_hello_reply_t *m)
{
	(b + ODL_WIRE_HELLO_REPLY_PROTOCOL_VERSION_OFF)[0] = m->protocol_version;
	(b + ODL_WIRE_HELLO_REPLY_MAX_LAYERS_OFF)[0] = m->max_layers;
	odl_put_u16(b + ODL_WIRE_HELLO_REPLY_MAX_INPUTS_OFF, m->max_inputs);
	odl_put_u16(b + ODL_WIRE_HELLO_REPLY_MAX_NEURONS_OFF, m->max_neurons);
	odl_put_u16(b + ODL_WIRE_HELLO_REPLY_MAX_BODY_OFF, m->max_body);
	odl_put_u32(b + ODL_WIRE_HELLO_REPLY_RX_CAPACITY_OFF, m->rx_capacity);
	odl_put_u32(b + ODL_WIRE_HELLO_REPLY_CYCLES_HZ_OFF, m->cycles_hz);
	odl_put_u32(b + ODL_WIRE_HELLO_REPLY_ARENA_SIZE_OFF, m->arena_size);
	odl_put_u32(b + ODL_WIRE_HELLO_REPLY_STACK_SIZE_OFF, m->stack_size);
	(b + ODL_WIRE_HELLO_REPLY_STRATEGIES_MASK_OFF)[0] = m->strategies_mask;
	(b + ODL_WIRE_HELLO_REPLY_SCORES_MASK_OFF)[0] = m->scores_mask;
	return 26u;
}

#define ODL_WIRE_CONFIGURE_CMD 0x02u
#define ODL_WIRE_CONFIGURE_BYTES 60u
_Static_assert(ODL_WIRE_CONFIGURE_BYTES <= ODL_PROTO_MAX_BODY, "configure does not fit a body");
#define ODL_WIRE_CONFIGURE_N_LAYERS_OFF 0u
#define ODL_WIRE_CONFIGURE_STRATEGY_OFF 1u
#define ODL_WIRE_CONFIGURE_SIZES_OFF 2u
#define ODL_WIRE_CONFIGURE_SIZES_LEN 5u
#define ODL_WIRE_CONFIGURE_SELECT_SCORE_OFF 12u
#define ODL_WIRE_CONFIGURE_INIT_WEIGHTS_OFF 13u
#define ODL_WIRE_CONFIGURE_RESERVED_OFF 14u
#define ODL_WIRE_CONFIGURE_LEARNING_RATE_OFF 16u
#define ODL_WIRE_CONFIGURE_MOMENTUM_OFF 20u
#define ODL_WIRE_CONFIGURE_S_MIN_OFF 24u
#define ODL_WIRE_CONFIGURE_S_MAX_OFF 28u
#define ODL_WIRE_CONFIGURE_ZETA_OFF 32u
#define ODL_WIRE_CONFIGURE_GATE_THRESHOLD_OFF 36u
#define ODL_WIRE_CONFIGURE_SELECT_THRESHOLD_OFF 40u
#define ODL_WIRE_CONFIGURE_SEED_OFF 44u
#define ODL_WIRE_CONFIGURE_PSEUDO_SCORE_OFF 48u
#define ODL_WIRE_CONFIGURE_RESERVED2_OFF 49u
#define ODL_WIRE_CONFIGURE_RESERVED3_OFF 50u
#define ODL_WIRE_CONFIGURE_PSEUDO_THRESHOLD_OFF 52u
#define ODL_WIRE_CONFIGURE_L2SP_LAMBDA_OFF 56u

/* configure: the body */
typedef struct odl_wire_configure {
	uint8_t n_layers;
	uint8_t strategy;
	uint16_t sizes[5];
	uint8_t select_score;
	uint8_t init_weights;
	uint16_t reserved;
	float learning_rate;
	float momentum;
	float s_min;
	float s_max;
	float zeta;
	float gate_threshold;
	float select_threshold;
	uint32_t seed;
	uint8_t pseudo_score;
	uint8_t reserved2;
	uint16_t reserved3;
	float pseudo_threshold;
	float l2sp_lambda;
} odl_wire_configure_t;

static inline void odl_wire_configure_get(const uint8_t *b, odl_wire_configure_t *m)
{
	m->n_layers = (b + ODL_WIRE_CONFIGURE_N_LAYERS_OFF)[0];
	m->strategy = (b + ODL_WIRE_CONFIGURE_STRATEGY_OFF)[0];
	for (size_t i = 0; i < 5u; i++) {
		m->sizes[i] = odl_get_u16(b + ODL_WIRE_CONFIGURE_SIZES_OFF + 2u * i);
	}
	m->select_score = (b + ODL_WIRE_CONFIGURE_SELECT_SCORE_OFF)[0];
	m->init_weights = (b + ODL_WIRE_CONFIGURE_INIT_WEIGHTS_OFF)[0];
	m->reserved = odl_get_u16(b + ODL_WIRE_CONFIGURE_RESERVED_OFF);
	m->learning_rate = odl_get_f32(b + ODL_WIRE_CONFIGURE_LEARNING_RATE_OFF);
	m->momentum = odl_get_f32(b + ODL_WIRE_CONFIGURE_MOMENTUM_OFF);
	m->s_min = odl_get_f32(b + ODL_WIRE_CONFIGURE_S_MIN_OFF);
	m->s_max = odl_get_f32(b + ODL_WIRE_CONFIGURE_S_MAX_OFF);
	m->zeta = odl_get_f32(b + ODL_WIRE_CONFIGURE_ZETA_OFF);
	m->gate_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_GATE_THRESHOLD_OFF);
	m->select_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_SELECT_THRESHOLD_OFF);
	m->seed = odl_get_u32(b + ODL_WIRE_CONFIGURE_SEED_OFF);
	m->pseudo_score = (b + ODL_WIRE_CONFIGURE_PSEUDO_SCORE_OFF)[0];
	m->reserved2 = (b + ODL_WIRE_CONFIGURE_RESERVED2_OFF)[0];
	m->reserved3 = odl_get_u16(b + ODL_WIRE_CONFIGURE_RESERVED3_OFF);
	m->pseudo_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_PSEUDO_THRESHOLD_OFF);
	m->l2sp_lambda = odl_get_f32(b + ODL_WIRE_CONFIGURE_L2SP_LAMBDA_OFF);
}

static inline size_t odl_wire_configure_put(uint8_t *b, const odl_wire_configure_t *m)
{
	(b + ODL_WIRE_CONFIGURE_N_LAYERS_OFF)[0] = m->n_layers;
	(b + ODL_WIRE_CONFIGURE_STRATEGY_OFF)[0] = m->strategy;
	for (size_t i = 0; i < 5u; i++) {
		odl_put_u16(b + ODL_WIRE_CONFIGURE_SIZES_OFF + 2u * i, m->sizes[i]);
	}
	(b + ODL_WIRE_CONFIGURE_SELECT_SCORE_OFF)[0] = m->select_score;
	(b + ODL_WIRE_CONFIGURE_INIT_WEIGHTS_OFF)[0] = m->init_weights;
	odl_put_u16(b + ODL_WIRE_CONFIGURE_RESERVED_OFF, m->reserved);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_LEARNING_RATE_OFF, m->learning_rate);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_MOMENTUM_OFF, m->momentum);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_S_MIN_OFF, m->s_min);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_S_MAX_OFF, m->s_max);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_ZETA_OFF, m->zeta);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_GATE_THRESHOLD_OFF, m->gate_threshold);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_SELECT_THRESHOLD_OFF, m->select_threshold);
	odl_put_u32(b + ODL_WIRE_CONFIGURE_SEED_OFF, m->seed);
	(b + ODL_WIRE_CONFIGURE_PSEUDO_SCORE_OFF)[0] = m->pseudo_score;
	(b + ODL_WIRE_CONFIGURE_RESERVED2_OFF)[0] = m->reserved2;
	odl_put_u16(b + ODL_WIRE_CONFIGURE_RESERVED3_OFF, m->reserved3);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_PSEUDO_THRESHOLD_OFF, m->pseudo_threshold);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_L2SP_LAMBDA_OFF, m->l2sp_lambda);
	return 60u;
}

#define ODL_WIRE_CONFIGURE_CONTINUAL_CMD 0x02u
#define ODL_WIRE_CONFIGURE_CONTINUAL_BYTES 74u
_Static_assert(ODL_WIRE_CONFIGURE_CONTINUAL_BYTES <= ODL_PROTO_MAX_BODY, "configure_continual does not fit a body");
#define ODL_WIRE_CONFIGURE_CONTINUAL_N_LAYERS_OFF 0u
#define ODL_WIRE_CONFIGURE_CONTINUAL_STRATEGY_OFF 1u
#define ODL_WIRE_CONFIGURE_CONTINUAL_SIZES_OFF 2u
#define ODL_WIRE_CONFIGURE_CONTINUAL_SIZES_LEN 5u
#define ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_SCORE_OFF 12u
#define ODL_WIRE_CONFIGURE_CONTINUAL_INIT_WEIGHTS_OFF 13u
#define ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED_OFF 14u
#define ODL_WIRE_CONFIGURE_CONTINUAL_LEARNING_RATE_OFF 16u
#define ODL_WIRE_CONFIGURE_CONTINUAL_MOMENTUM_OFF 20u
#define ODL_WIRE_CONFIGURE_CONTINUAL_S_MIN_OFF 24u
#define ODL_WIRE_CONFIGURE_CONTINUAL_S_MAX_OFF 28u
#define ODL_WIRE_CONFIGURE_CONTINUAL_ZETA_OFF 32u
#define ODL_WIRE_CONFIGURE_CONTINUAL_GATE_THRESHOLD_OFF 36u
#define ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_THRESHOLD_OFF 40u
#define ODL_WIRE_CONFIGURE_CONTINUAL_SEED_OFF 44u
#define ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_SCORE_OFF 48u
#define ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED2_OFF 49u
#define ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED3_OFF 50u
#define ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_THRESHOLD_OFF 52u
#define ODL_WIRE_CONFIGURE_CONTINUAL_L2SP_LAMBDA_OFF 56u
#define ODL_WIRE_CONFIGURE_CONTINUAL_MAX_SIZES_OFF 60u
#define ODL_WIRE_CONFIGURE_CONTINUAL_MAX_SIZES_LEN 5u
#define ODL_WIRE_CONFIGURE_CONTINUAL_REPLAY_CAPACITY_OFF 70u

/* configure_continual: the body */
typedef struct odl_wire_configure_continual {
	uint8_t n_layers;
	uint8_t strategy;
	uint16_t sizes[5];
	uint8_t select_score;
	uint8_t init_weights;
	uint16_t reserved;
	float learning_rate;
	float momentum;
	float s_min;
	float s_max;
	float zeta;
	float gate_threshold;
	float select_threshold;
	uint32_t seed;
	uint8_t pseudo_score;
	uint8_t reserved2;
	uint16_t reserved3;
	float pseudo_threshold;
	float l2sp_lambda;
	uint16_t max_sizes[5];
	uint32_t replay_capacity;
} odl_wire_configure_continual_t;

static inline void odl_wire_configure_continual_get(const uint8_t *b, odl_wire_configure_continual_t *m)
{
	m->n_layers = (b + ODL_WIRE_CONFIGURE_CONTINUAL_N_LAYERS_OFF)[0];
	m->strategy = (b + ODL_WIRE_CONFIGURE_CONTINUAL_STRATEGY_OFF)[0];
	for (size_t i = 0; i < 5u; i++) {
		m->sizes[i] = odl_get_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_SIZES_OFF + 2u * i);
	}
	m->select_score = (b + ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_SCORE_OFF)[0];
	m->init_weights = (b + ODL_WIRE_CONFIGURE_CONTINUAL_INIT_WEIGHTS_OFF)[0];
	m->reserved = odl_get_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED_OFF);
	m->learning_rate = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_LEARNING_RATE_OFF);
	m->momentum = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_MOMENTUM_OFF);
	m->s_min = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_S_MIN_OFF);
	m->s_max = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_S_MAX_OFF);
	m->zeta = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_ZETA_OFF);
	m->gate_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_GATE_THRESHOLD_OFF);
	m->select_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_THRESHOLD_OFF);
	m->seed = odl_get_u32(b + ODL_WIRE_CONFIGURE_CONTINUAL_SEED_OFF);
	m->pseudo_score = (b + ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_SCORE_OFF)[0];
	m->reserved2 = (b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED2_OFF)[0];
	m->reserved3 = odl_get_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED3_OFF);
	m->pseudo_threshold = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_THRESHOLD_OFF);
	m->l2sp_lambda = odl_get_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_L2SP_LAMBDA_OFF);
	for (size_t i = 0; i < 5u; i++) {
		m->max_sizes[i] = odl_get_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_MAX_SIZES_OFF + 2u * i);
	}
	m->replay_capacity = odl_get_u32(b + ODL_WIRE_CONFIGURE_CONTINUAL_REPLAY_CAPACITY_OFF);
}

static inline size_t odl_wire_configure_continual_put(uint8_t *b, const odl_wire_configure_continual_t *m)
{
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_N_LAYERS_OFF)[0] = m->n_layers;
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_STRATEGY_OFF)[0] = m->strategy;
	for (size_t i = 0; i < 5u; i++) {
		odl_put_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_SIZES_OFF + 2u * i, m->sizes[i]);
	}
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_SCORE_OFF)[0] = m->select_score;
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_INIT_WEIGHTS_OFF)[0] = m->init_weights;
	odl_put_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED_OFF, m->reserved);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_LEARNING_RATE_OFF, m->learning_rate);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_MOMENTUM_OFF, m->momentum);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_S_MIN_OFF, m->s_min);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_S_MAX_OFF, m->s_max);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_ZETA_OFF, m->zeta);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_GATE_THRESHOLD_OFF, m->gate_threshold);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_SELECT_THRESHOLD_OFF, m->select_threshold);
	odl_put_u32(b + ODL_WIRE_CONFIGURE_CONTINUAL_SEED_OFF, m->seed);
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_SCORE_OFF)[0] = m->pseudo_score;
	(b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED2_OFF)[0] = m->reserved2;
	odl_put_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_RESERVED3_OFF, m->reserved3);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_PSEUDO_THRESHOLD_OFF, m->pseudo_threshold);
	odl_put_f32(b + ODL_WIRE_CONFIGURE_CONTINUAL_L2SP_LAMBDA_OFF, m->l2sp_lambda);
	for (size_t i = 0; i < 5u; i++) {
		odl_put_u16(b + ODL_WIRE_CONFIGURE_CONTINUAL_MAX_SIZES_OFF + 2u * i, m->max_sizes[i]);
	}
	odl_put_u32(b + ODL_WIRE_CONFIGURE_CONTINUAL_REPLAY_CAPACITY_OFF, m->replay_capacity);
	return 74u;
}

#define ODL_WIRE_CONFIGURE_REPLY_CMD 0x82u
#define ODL_WIRE_CONFIGURE_REPLY_BYTES 8u
_Static_assert(ODL_WIRE_CONFIGURE_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "configure_reply does not fit a body");
#define ODL_WIRE_CONFIGURE_REPLY_ARENA_NEEDED_OFF 0u
#define ODL_WIRE_CONFIGURE_REPLY_ARENA_SIZE_OFF 4u

/* configure_reply: the body */
typedef struct odl_wire_configure_reply {
	uint32_t arena_needed;
	uint32_t arena_size;
} odl_wire_configure_reply_t;

static inline void odl_wire_configure_reply_get(const uint8_t *b, odl_wire_configure_reply_t *m)
{
	m->arena_needed = odl_get_u32(b + ODL_WIRE_CONFIGURE_REPLY_ARENA_NEEDED_OFF);
	m->arena_size = odl_get_u32(b + ODL_WIRE_CONFIGURE_REPLY_ARENA_SIZE_OFF);
}

static inline size_t odl_wire_configure_reply_put(uint8_t *b, const odl_wire_configure_reply_t *m)
{
	odl_put_u32(b + ODL_WIRE_CONFIGURE_REPLY_ARENA_NEEDED_OFF, m->arena_needed);
	odl_put_u32(b + ODL_WIRE_CONFIGURE_REPLY_ARENA_SIZE_OFF, m->arena_size);
	return 8u;
}

#define ODL_WIRE_LOAD_WEIGHTS_CMD 0x03u
#define ODL_WIRE_LOAD_WEIGHTS_HEAD_BYTES 8u
_Static_assert(ODL_WIRE_LOAD_WEIGHTS_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "load_weights does not fit a body");
#define ODL_WIRE_LOAD_WEIGHTS_OFFSET_OFF 0u
#define ODL_WIRE_LOAD_WEIGHTS_TOTAL_OFF 4u
/* then: blob chunk */

/* load_weights: its fixed head */
typedef struct odl_wire_load_weights {
	uint32_t offset;
	uint32_t total;
} odl_wire_load_weights_t;

static inline void odl_wire_load_weights_get(const uint8_t *b, odl_wire_load_weights_t *m)
{
	m->offset = odl_get_u32(b + ODL_WIRE_LOAD_WEIGHTS_OFFSET_OFF);
	m->total = odl_get_u32(b + ODL_WIRE_LOAD_WEIGHTS_TOTAL_OFF);
}

static inline size_t odl_wire_load_weights_put(uint8_t *b, const odl_wire_load_weights_t *m)
{
	odl_put_u32(b + ODL_WIRE_LOAD_WEIGHTS_OFFSET_OFF, m->offset);
	odl_put_u32(b + ODL_WIRE_LOAD_WEIGHTS_TOTAL_OFF, m->total);
	return 8u;
}

#define ODL_WIRE_LOAD_WEIGHTS_REPLY_CMD 0x83u
#define ODL_WIRE_LOAD_WEIGHTS_REPLY_BYTES 5u
_Static_assert(ODL_WIRE_LOAD_WEIGHTS_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "load_weights_reply does not fit a body");
#define ODL_WIRE_LOAD_WEIGHTS_REPLY_RECEIVED_OFF 0u
#define ODL_WIRE_LOAD_WEIGHTS_REPLY_COMPLETE_OFF 4u

/* load_weights_reply: the body */
typedef struct odl_wire_load_weights_reply {
	uint32_t received;
	uint8_t complete;
} odl_wire_load_weights_reply_t;

static inline void odl_wire_load_weights_reply_get(const uint8_t *b, odl_wire_load_weights_reply_t *m)
{
	m->received = odl_get_u32(b + ODL_WIRE_LOAD_WEIGHTS_REPLY_RECEIVED_OFF);
	m->complete = (b + ODL_WIRE_LOAD_WEIGHTS_REPLY_COMPLETE_OFF)[0];
}

static inline size_t odl_wire_load_weights_reply_put(uint8_t *b, const odl_wire_load_weights_reply_t *m)
{
	odl_put_u32(b + ODL_WIRE_LOAD_WEIGHTS_REPLY_RECEIVED_OFF, m->received);
	(b + ODL_WIRE_LOAD_WEIGHTS_REPLY_COMPLETE_OFF)[0] = m->complete;
	return 5u;
}

#define ODL_WIRE_READ_WEIGHTS_CMD 0x04u
#define ODL_WIRE_READ_WEIGHTS_BYTES 6u
_Static_assert(ODL_WIRE_READ_WEIGHTS_BYTES <= ODL_PROTO_MAX_BODY, "read_weights does not fit a body");
#define ODL_WIRE_READ_WEIGHTS_OFFSET_OFF 0u
#define ODL_WIRE_READ_WEIGHTS_MAX_LEN_OFF 4u

/* read_weights: the body */
typedef struct odl_wire_read_weights {
	uint32_t offset;
	uint16_t max_len;
} odl_wire_read_weights_t;

static inline void odl_wire_read_weights_get(const uint8_t *b, odl_wire_read_weights_t *m)
{
	m->offset = odl_get_u32(b + ODL_WIRE_READ_WEIGHTS_OFFSET_OFF);
	m->max_len = odl_get_u16(b + ODL_WIRE_READ_WEIGHTS_MAX_LEN_OFF);
}

static inline size_t odl_wire_read_weights_put(uint8_t *b, const odl_wire_read_weights_t *m)
{
	odl_put_u32(b + ODL_WIRE_READ_WEIGHTS_OFFSET_OFF, m->offset);
	odl_put_u16(b + ODL_WIRE_READ_WEIGHTS_MAX_LEN_OFF, m->max_len);
	return 6u;
}

#define ODL_WIRE_READ_WEIGHTS_REPLY_CMD 0x84u
#define ODL_WIRE_READ_WEIGHTS_REPLY_HEAD_BYTES 8u
_Static_assert(ODL_WIRE_READ_WEIGHTS_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "read_weights_reply does not fit a body");
#define ODL_WIRE_READ_WEIGHTS_REPLY_TOTAL_OFF 0u
#define ODL_WIRE_READ_WEIGHTS_REPLY_OFFSET_OFF 4u
/* then: blob chunk */

/* read_weights_reply: its fixed head */
typedef struct odl_wire_read_weights_reply {
	uint32_t total;
	uint32_t offset;
} odl_wire_read_weights_reply_t;

static inline void odl_wire_read_weights_reply_get(const uint8_t *b, odl_wire_read_weights_reply_t *m)
{
	m->total = odl_get_u32(b + ODL_WIRE_READ_WEIGHTS_REPLY_TOTAL_OFF);
	m->offset = odl_get_u32(b + ODL_WIRE_READ_WEIGHTS_REPLY_OFFSET_OFF);
}

static inline size_t odl_wire_read_weights_reply_put(uint8_t *b, const odl_wire_read_weights_reply_t *m)
{
	odl_put_u32(b + ODL_WIRE_READ_WEIGHTS_REPLY_TOTAL_OFF, m->total);
	odl_put_u32(b + ODL_WIRE_READ_WEIGHTS_REPLY_OFFSET_OFF, m->offset);
	return 8u;
}

#define ODL_WIRE_BATCH_CMD 0x05u
#define ODL_WIRE_BATCH_HEAD_BYTES 8u
_Static_assert(ODL_WIRE_BATCH_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "batch does not fit a body");
#define ODL_WIRE_BATCH_ENCODING_OFF 0u
#define ODL_WIRE_BATCH_SCORE_KIND_OFF 1u
#define ODL_WIRE_BATCH_COUNT_OFF 2u
#define ODL_WIRE_BATCH_N_FEATURES_OFF 4u
#define ODL_WIRE_BATCH_RESERVED_OFF 6u
/* then: blob records */

/* batch: its fixed head */
typedef struct odl_wire_batch {
	uint8_t encoding;
	uint8_t score_kind;
	uint16_t count;
	uint16_t n_features;
	uint16_t reserved;
} odl_wire_batch_t;

static inline void odl_wire_batch_get(const uint8_t *b, odl_wire_batch_t *m)
{
	m->encoding = (b + ODL_WIRE_BATCH_ENCODING_OFF)[0];
	m->score_kind = (b + ODL_WIRE_BATCH_SCORE_KIND_OFF)[0];
	m->count = odl_get_u16(b + ODL_WIRE_BATCH_COUNT_OFF);
	m->n_features = odl_get_u16(b + ODL_WIRE_BATCH_N_FEATURES_OFF);
	m->reserved = odl_get_u16(b + ODL_WIRE_BATCH_RESERVED_OFF);
}

static inline size_t odl_wire_batch_put(uint8_t *b, const odl_wire_batch_t *m)
{
	(b + ODL_WIRE_BATCH_ENCODING_OFF)[0] = m->encoding;
	(b + ODL_WIRE_BATCH_SCORE_KIND_OFF)[0] = m->score_kind;
	odl_put_u16(b + ODL_WIRE_BATCH_COUNT_OFF, m->count);
	odl_put_u16(b + ODL_WIRE_BATCH_N_FEATURES_OFF, m->n_features);
	odl_put_u16(b + ODL_WIRE_BATCH_RESERVED_OFF, m->reserved);
	return 8u;
}

#define ODL_WIRE_BATCH_QUANT_CMD 0x05u
#define ODL_WIRE_BATCH_QUANT_HEAD_BYTES 16u
_Static_assert(ODL_WIRE_BATCH_QUANT_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "batch_quant does not fit a body");
#define ODL_WIRE_BATCH_QUANT_ENCODING_OFF 0u
#define ODL_WIRE_BATCH_QUANT_SCORE_KIND_OFF 1u
#define ODL_WIRE_BATCH_QUANT_COUNT_OFF 2u
#define ODL_WIRE_BATCH_QUANT_N_FEATURES_OFF 4u
#define ODL_WIRE_BATCH_QUANT_RESERVED_OFF 6u
#define ODL_WIRE_BATCH_QUANT_SCALE_OFF 8u
#define ODL_WIRE_BATCH_QUANT_ZERO_POINT_OFF 12u
#define ODL_WIRE_BATCH_QUANT_RESERVED2_OFF 14u
/* then: blob records */

/* batch_quant: its fixed head */
typedef struct odl_wire_batch_quant {
	uint8_t encoding;
	uint8_t score_kind;
	uint16_t count;
	uint16_t n_features;
	uint16_t reserved;
	float scale;
	int16_t zero_point;
	uint16_t reserved2;
} odl_wire_batch_quant_t;

static inline void odl_wire_batch_quant_get(const uint8_t *b, odl_wire_batch_quant_t *m)
{
	m->encoding = (b + ODL_WIRE_BATCH_QUANT_ENCODING_OFF)[0];
	m->score_kind = (b + ODL_WIRE_BATCH_QUANT_SCORE_KIND_OFF)[0];
	m->count = odl_get_u16(b + ODL_WIRE_BATCH_QUANT_COUNT_OFF);
	m->n_features = odl_get_u16(b + ODL_WIRE_BATCH_QUANT_N_FEATURES_OFF);
	m->reserved = odl_get_u16(b + ODL_WIRE_BATCH_QUANT_RESERVED_OFF);
	m->scale = odl_get_f32(b + ODL_WIRE_BATCH_QUANT_SCALE_OFF);
	m->zero_point = (int16_t)odl_get_u16(b + ODL_WIRE_BATCH_QUANT_ZERO_POINT_OFF);
	m->reserved2 = odl_get_u16(b + ODL_WIRE_BATCH_QUANT_RESERVED2_OFF);
}

static inline size_t odl_wire_batch_quant_put(uint8_t *b, const odl_wire_batch_quant_t *m)
{
	(b + ODL_WIRE_BATCH_QUANT_ENCODING_OFF)[0] = m->encoding;
	(b + ODL_WIRE_BATCH_QUANT_SCORE_KIND_OFF)[0] = m->score_kind;
	odl_put_u16(b + ODL_WIRE_BATCH_QUANT_COUNT_OFF, m->count);
	odl_put_u16(b + ODL_WIRE_BATCH_QUANT_N_FEATURES_OFF, m->n_features);
	odl_put_u16(b + ODL_WIRE_BATCH_QUANT_RESERVED_OFF, m->reserved);
	odl_put_f32(b + ODL_WIRE_BATCH_QUANT_SCALE_OFF, m->scale);
	odl_put_u16(b + ODL_WIRE_BATCH_QUANT_ZERO_POINT_OFF, (uint16_t)m->zero_point);
	odl_put_u16(b + ODL_WIRE_BATCH_QUANT_RESERVED2_OFF, m->reserved2);
	return 16u;
}

#define ODL_WIRE_TRAIN_REPLY_CMD 0x85u
#define ODL_WIRE_TRAIN_REPLY_HEAD_BYTES 12u
_Static_assert(ODL_WIRE_TRAIN_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "train_reply does not fit a body");
#define ODL_WIRE_TRAIN_REPLY_COUNT_OFF 0u
#define ODL_WIRE_TRAIN_REPLY_TRAINED_OFF 2u
#define ODL_WIRE_TRAIN_REPLY_SKIPPED_OFF 4u
#define ODL_WIRE_TRAIN_REPLY_NOT_SELECTED_OFF 6u
#define ODL_WIRE_TRAIN_REPLY_LOSS_SUM_OFF 8u
/* then: blob per_sample */

/* train_reply: its fixed head */
typedef struct odl_wire_train_reply {
	uint16_t count;
	uint16_t trained;
	uint16_t skipped;
	uint16_t not_selected;
	float loss_sum;
} odl_wire_train_reply_t;

static inline void odl_wire_train_reply_get(const uint8_t *b, odl_wire_train_reply_t *m)
{
	m->count = odl_get_u16(b + ODL_WIRE_TRAIN_REPLY_COUNT_OFF);
	m->trained = odl_get_u16(b + ODL_WIRE_TRAIN_REPLY_TRAINED_OFF);
	m->skipped = odl_get_u16(b + ODL_WIRE_TRAIN_REPLY_SKIPPED_OFF);
	m->not_selected = odl_get_u16(b + ODL_WIRE_TRAIN_REPLY_NOT_SELECTED_OFF);
	m->loss_sum = odl_get_f32(b + ODL_WIRE_TRAIN_REPLY_LOSS_SUM_OFF);
}

static inline size_t odl_wire_train_reply_put(uint8_t *b, const odl_wire_train_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_TRAIN_REPLY_COUNT_OFF, m->count);
	odl_put_u16(b + ODL_WIRE_TRAIN_REPLY_TRAINED_OFF, m->trained);
	odl_put_u16(b + ODL_WIRE_TRAIN_REPLY_SKIPPED_OFF, m->skipped);
	odl_put_u16(b + ODL_WIRE_TRAIN_REPLY_NOT_SELECTED_OFF, m->not_selected);
	odl_put_f32(b + ODL_WIRE_TRAIN_REPLY_LOSS_SUM_OFF, m->loss_sum);
	return 12u;
}

#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_CMD 0x8Du
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_HEAD_BYTES 16u
_Static_assert(ODL_WIRE_TRAIN_UNLABELLED_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "train_unlabelled_reply does not fit a body");
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_COUNT_OFF 0u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_TRAINED_OFF 2u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_SKIPPED_OFF 4u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_SELECTED_OFF 6u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_CONFIDENT_OFF 8u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_RESERVED_OFF 10u
#define ODL_WIRE_TRAIN_UNLABELLED_REPLY_LOSS_SUM_OFF 12u
/* then: blob per_sample */

/* train_unlabelled_reply: its fixed head */
typedef struct odl_wire_train_unlabelled_reply {
	uint16_t count;
	uint16_t trained;
	uint16_t skipped;
	uint16_t not_selected;
	uint16_t not_confident;
	uint16_t reserved;
	float loss_sum;
} odl_wire_train_unlabelled_reply_t;

static inline void odl_wire_train_unlabelled_reply_get(const uint8_t *b, odl_wire_train_unlabelled_reply_t *m)
{
	m->count = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_COUNT_OFF);
	m->trained = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_TRAINED_OFF);
	m->skipped = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_SKIPPED_OFF);
	m->not_selected = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_SELECTED_OFF);
	m->not_confident = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_CONFIDENT_OFF);
	m->reserved = odl_get_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_RESERVED_OFF);
	m->loss_sum = odl_get_f32(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_LOSS_SUM_OFF);
}

static inline size_t odl_wire_train_unlabelled_reply_put(uint8_t *b, const odl_wire_train_unlabelled_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_COUNT_OFF, m->count);
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_TRAINED_OFF, m->trained);
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_SKIPPED_OFF, m->skipped);
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_SELECTED_OFF, m->not_selected);
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_NOT_CONFIDENT_OFF, m->not_confident);
	odl_put_u16(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_RESERVED_OFF, m->reserved);
	odl_put_f32(b + ODL_WIRE_TRAIN_UNLABELLED_REPLY_LOSS_SUM_OFF, m->loss_sum);
	return 16u;
}

#define ODL_WIRE_INFER_REPLY_CMD 0x86u
#define ODL_WIRE_INFER_REPLY_HEAD_BYTES 2u
_Static_assert(ODL_WIRE_INFER_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "infer_reply does not fit a body");
#define ODL_WIRE_INFER_REPLY_COUNT_OFF 0u
/* then: blob predictions */

/* infer_reply: its fixed head */
typedef struct odl_wire_infer_reply {
	uint16_t count;
} odl_wire_infer_reply_t;

static inline void odl_wire_infer_reply_get(const uint8_t *b, odl_wire_infer_reply_t *m)
{
	m->count = odl_get_u16(b + ODL_WIRE_INFER_REPLY_COUNT_OFF);
}

static inline size_t odl_wire_infer_reply_put(uint8_t *b, const odl_wire_infer_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_INFER_REPLY_COUNT_OFF, m->count);
	return 2u;
}

#define ODL_WIRE_EVALUATE_REPLY_CMD 0x87u
#define ODL_WIRE_EVALUATE_REPLY_HEAD_BYTES 8u
_Static_assert(ODL_WIRE_EVALUATE_REPLY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "evaluate_reply does not fit a body");
#define ODL_WIRE_EVALUATE_REPLY_COUNT_OFF 0u
#define ODL_WIRE_EVALUATE_REPLY_CORRECT_OFF 2u
#define ODL_WIRE_EVALUATE_REPLY_LOSS_SUM_OFF 4u
/* then: blob predictions */

/* evaluate_reply: its fixed head */
typedef struct odl_wire_evaluate_reply {
	uint16_t count;
	uint16_t correct;
	float loss_sum;
} odl_wire_evaluate_reply_t;

static inline void odl_wire_evaluate_reply_get(const uint8_t *b, odl_wire_evaluate_reply_t *m)
{
	m->count = odl_get_u16(b + ODL_WIRE_EVALUATE_REPLY_COUNT_OFF);
	m->correct = odl_get_u16(b + ODL_WIRE_EVALUATE_REPLY_CORRECT_OFF);
	m->loss_sum = odl_get_f32(b + ODL_WIRE_EVALUATE_REPLY_LOSS_SUM_OFF);
}

static inline size_t odl_wire_evaluate_reply_put(uint8_t *b, const odl_wire_evaluate_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_EVALUATE_REPLY_COUNT_OFF, m->count);
	odl_put_u16(b + ODL_WIRE_EVALUATE_REPLY_CORRECT_OFF, m->correct);
	odl_put_f32(b + ODL_WIRE_EVALUATE_REPLY_LOSS_SUM_OFF, m->loss_sum);
	return 8u;
}

#define ODL_WIRE_METRICS_CMD 0x08u
#define ODL_WIRE_METRICS_BYTES 1u
_Static_assert(ODL_WIRE_METRICS_BYTES <= ODL_PROTO_MAX_BODY, "metrics does not fit a body");
#define ODL_WIRE_METRICS_RESET_OFF 0u

/* metrics: the body */
typedef struct odl_wire_metrics {
	uint8_t reset;
} odl_wire_metrics_t;

static inline void odl_wire_metrics_get(const uint8_t *b, odl_wire_metrics_t *m)
{
	m->reset = (b + ODL_WIRE_METRICS_RESET_OFF)[0];
}

static inline size_t odl_wire_metrics_put(uint8_t *b, const odl_wire_metrics_t *m)
{
	(b + ODL_WIRE_METRICS_RESET_OFF)[0] = m->reset;
	return 1u;
}

#define ODL_WIRE_METRICS_REPLY_CMD 0x88u
#define ODL_WIRE_METRICS_REPLY_BYTES 208u
_Static_assert(ODL_WIRE_METRICS_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "metrics_reply does not fit a body");
#define ODL_WIRE_METRICS_REPLY_FORWARD_OFF 0u
#define ODL_WIRE_METRICS_REPLY_BACKWARD_OFF 20u
#define ODL_WIRE_METRICS_REPLY_UPDATE_OFF 40u
#define ODL_WIRE_METRICS_REPLY_MACS_FORWARD_OFF 60u
#define ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_OFF 68u
#define ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_FULL_OFF 76u
#define ODL_WIRE_METRICS_REPLY_SEEN_OFF 84u
#define ODL_WIRE_METRICS_REPLY_SELECTED_OFF 88u
#define ODL_WIRE_METRICS_REPLY_TRAINED_OFF 92u
#define ODL_WIRE_METRICS_REPLY_SKIPPED_OFF 96u
#define ODL_WIRE_METRICS_REPLY_N_LAYERS_OFF 100u
#define ODL_WIRE_METRICS_REPLY_CONFIGURED_OFF 101u
#define ODL_WIRE_METRICS_REPLY_RESERVED_OFF 102u
#define ODL_WIRE_METRICS_REPLY_LAYERS_OFF 104u
#define ODL_WIRE_METRICS_REPLY_LAYERS_LEN 4u
#define ODL_WIRE_METRICS_REPLY_ARENA_SIZE_OFF 168u
#define ODL_WIRE_METRICS_REPLY_ARENA_NEEDED_OFF 172u
#define ODL_WIRE_METRICS_REPLY_ARENA_PEAK_OFF 176u
#define ODL_WIRE_METRICS_REPLY_STACK_SIZE_OFF 180u
#define ODL_WIRE_METRICS_REPLY_STACK_HIGH_WATER_OFF 184u
#define ODL_WIRE_METRICS_REPLY_RX_OVERRUNS_OFF 188u
#define ODL_WIRE_METRICS_REPLY_FRAMES_OK_OFF 192u
#define ODL_WIRE_METRICS_REPLY_FRAMES_BAD_OFF 196u
#define ODL_WIRE_METRICS_REPLY_FRAMES_DUPLICATE_OFF 200u
#define ODL_WIRE_METRICS_REPLY_CYCLES_HZ_OFF 204u

/* metrics_reply: the body */
typedef struct odl_wire_metrics_reply {
	odl_wire_cycle_stat_t forward;
	odl_wire_cycle_stat_t backward;
	odl_wire_cycle_stat_t update;
	uint64_t macs_forward;
	uint64_t macs_backward;
	uint64_t macs_backward_full;
	uint32_t seen;
	uint32_t selected;
	uint32_t trained;
	uint32_t skipped;
	uint8_t n_layers;
	uint8_t configured;
	uint16_t reserved;
	odl_wire_layer_k_t layers[4];
	uint32_t arena_size;
	uint32_t arena_needed;
	uint32_t arena_peak;
	uint32_t stack_size;
	uint32_t stack_high_water;
	uint32_t rx_overruns;
	uint32_t frames_ok;
	uint32_t frames_bad;
	uint32_t frames_duplicate;
	uint32_t cycles_hz;
} odl_wire_metrics_reply_t;

static inline void odl_wire_metrics_reply_get(const uint8_t *b, odl_wire_metrics_reply_t *m)
{
	odl_wire_cycle_stat_get(b + ODL_WIRE_METRICS_REPLY_FORWARD_OFF, &m->forward);
	odl_wire_cycle_stat_get(b + ODL_WIRE_METRICS_REPLY_BACKWARD_OFF, &m->backward);
	odl_wire_cycle_stat_get(b + ODL_WIRE_METRICS_REPLY_UPDATE_OFF, &m->update);
	m->macs_forward = odl_get_u64(b + ODL_WIRE_METRICS_REPLY_MACS_FORWARD_OFF);
	m->macs_backward = odl_get_u64(b + ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_OFF);
	m->macs_backward_full = odl_get_u64(b + ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_FULL_OFF);
	m->seen = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_SEEN_OFF);
	m->selected = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_SELECTED_OFF);
	m->trained = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_TRAINED_OFF);
	m->skipped = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_SKIPPED_OFF);
	m->n_layers = (b + ODL_WIRE_METRICS_REPLY_N_LAYERS_OFF)[0];
	m->configured = (b + ODL_WIRE_METRICS_REPLY_CONFIGURED_OFF)[0];
	m->reserved = odl_get_u16(b + ODL_WIRE_METRICS_REPLY_RESERVED_OFF);
	for (size_t i = 0; i < 4u; i++) {
		odl_wire_layer_k_get(b + ODL_WIRE_METRICS_REPLY_LAYERS_OFF + 16u * i, &m->layers[i]);
	}
	m->arena_size = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_SIZE_OFF);
	m->arena_needed = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_NEEDED_OFF);
	m->arena_peak = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_PEAK_OFF);
	m->stack_size = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_STACK_SIZE_OFF);
	m->stack_high_water = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_STACK_HIGH_WATER_OFF);
	m->rx_overruns = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_RX_OVERRUNS_OFF);
	m->frames_ok = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_OK_OFF);
	m->frames_bad = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_BAD_OFF);
	m->frames_duplicate = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_DUPLICATE_OFF);
	m->cycles_hz = odl_get_u32(b + ODL_WIRE_METRICS_REPLY_CYCLES_HZ_OFF);
}

static inline size_t odl_wire_metrics_reply_put(uint8_t *b, const odl_wire_metrics_reply_t *m)
{
	(void)odl_wire_cycle_stat_put(b + ODL_WIRE_METRICS_REPLY_FORWARD_OFF, &m->forward);
	(void)odl_wire_cycle_stat_put(b + ODL_WIRE_METRICS_REPLY_BACKWARD_OFF, &m->backward);
	(void)odl_wire_cycle_stat_put(b + ODL_WIRE_METRICS_REPLY_UPDATE_OFF, &m->update);
	odl_put_u64(b + ODL_WIRE_METRICS_REPLY_MACS_FORWARD_OFF, m->macs_forward);
	odl_put_u64(b + ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_OFF, m->macs_backward);
	odl_put_u64(b + ODL_WIRE_METRICS_REPLY_MACS_BACKWARD_FULL_OFF, m->macs_backward_full);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_SEEN_OFF, m->seen);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_SELECTED_OFF, m->selected);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_TRAINED_OFF, m->trained);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_SKIPPED_OFF, m->skipped);
	(b + ODL_WIRE_METRICS_REPLY_N_LAYERS_OFF)[0] = m->n_layers;
	(b + ODL_WIRE_METRICS_REPLY_CONFIGURED_OFF)[0] = m->configured;
	odl_put_u16(b + ODL_WIRE_METRICS_REPLY_RESERVED_OFF, m->reserved);
	for (size_t i = 0; i < 4u; i++) {
		(void)odl_wire_layer_k_put(b + ODL_WIRE_METRICS_REPLY_LAYERS_OFF + 16u * i, &m->layers[i]);
	}
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_SIZE_OFF, m->arena_size);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_NEEDED_OFF, m->arena_needed);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_ARENA_PEAK_OFF, m->arena_peak);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_STACK_SIZE_OFF, m->stack_size);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_STACK_HIGH_WATER_OFF, m->stack_high_water);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_RX_OVERRUNS_OFF, m->rx_overruns);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_OK_OFF, m->frames_ok);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_BAD_OFF, m->frames_bad);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_FRAMES_DUPLICATE_OFF, m->frames_duplicate);
	odl_put_u32(b + ODL_WIRE_METRICS_REPLY_CYCLES_HZ_OFF, m->cycles_hz);
	return 208u;
}

#define ODL_WIRE_RESET_CMD 0x09u
#define ODL_WIRE_RESET_BYTES 1u
_Static_assert(ODL_WIRE_RESET_BYTES <= ODL_PROTO_MAX_BODY, "reset does not fit a body");
#define ODL_WIRE_RESET_HARD_OFF 0u

/* reset: the body */
typedef struct odl_wire_reset {
	uint8_t hard;
} odl_wire_reset_t;

static inline void odl_wire_reset_get(const uint8_t *b, odl_wire_reset_t *m)
{
	m->hard = (b + ODL_WIRE_RESET_HARD_OFF)[0];
}

static inline size_t odl_wire_reset_put(uint8_t *b, const odl_wire_reset_t *m)
{
	(b + ODL_WIRE_RESET_HARD_OFF)[0] = m->hard;
	return 1u;
}

#define ODL_WIRE_RESET_REPLY_CMD 0x89u
#define ODL_WIRE_RESET_REPLY_BYTES 0u
_Static_assert(ODL_WIRE_RESET_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "reset_reply does not fit a body");

#define ODL_WIRE_LOAD_REPLAY_CMD 0x0Au
#define ODL_WIRE_LOAD_REPLAY_HEAD_BYTES 16u
_Static_assert(ODL_WIRE_LOAD_REPLAY_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "load_replay does not fit a body");
#define ODL_WIRE_LOAD_REPLAY_FIRST_OFF 0u
#define ODL_WIRE_LOAD_REPLAY_TOTAL_OFF 2u
#define ODL_WIRE_LOAD_REPLAY_N_FEATURES_OFF 4u
#define ODL_WIRE_LOAD_REPLAY_ENCODING_OFF 6u
#define ODL_WIRE_LOAD_REPLAY_RATIO_OFF 7u
#define ODL_WIRE_LOAD_REPLAY_SCALE_OFF 8u
#define ODL_WIRE_LOAD_REPLAY_ZERO_POINT_OFF 12u
#define ODL_WIRE_LOAD_REPLAY_RESERVED_OFF 14u
/* then: blob records */

/* load_replay: its fixed head */
typedef struct odl_wire_load_replay {
	uint16_t first;
	uint16_t total;
	uint16_t n_features;
	uint8_t encoding;
	uint8_t ratio;
	float scale;
	int16_t zero_point;
	uint16_t reserved;
} odl_wire_load_replay_t;

static inline void odl_wire_load_replay_get(const uint8_t *b, odl_wire_load_replay_t *m)
{
	m->first = odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_FIRST_OFF);
	m->total = odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_TOTAL_OFF);
	m->n_features = odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_N_FEATURES_OFF);
	m->encoding = (b + ODL_WIRE_LOAD_REPLAY_ENCODING_OFF)[0];
	m->ratio = (b + ODL_WIRE_LOAD_REPLAY_RATIO_OFF)[0];
	m->scale = odl_get_f32(b + ODL_WIRE_LOAD_REPLAY_SCALE_OFF);
	m->zero_point = (int16_t)odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_ZERO_POINT_OFF);
	m->reserved = odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_RESERVED_OFF);
}

static inline size_t odl_wire_load_replay_put(uint8_t *b, const odl_wire_load_replay_t *m)
{
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_FIRST_OFF, m->first);
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_TOTAL_OFF, m->total);
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_N_FEATURES_OFF, m->n_features);
	(b + ODL_WIRE_LOAD_REPLAY_ENCODING_OFF)[0] = m->encoding;
	(b + ODL_WIRE_LOAD_REPLAY_RATIO_OFF)[0] = m->ratio;
	odl_put_f32(b + ODL_WIRE_LOAD_REPLAY_SCALE_OFF, m->scale);
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_ZERO_POINT_OFF, (uint16_t)m->zero_point);
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_RESERVED_OFF, m->reserved);
	return 16u;
}

#define ODL_WIRE_LOAD_REPLAY_REPLY_CMD 0x8Au
#define ODL_WIRE_LOAD_REPLAY_REPLY_BYTES 8u
_Static_assert(ODL_WIRE_LOAD_REPLAY_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "load_replay_reply does not fit a body");
#define ODL_WIRE_LOAD_REPLAY_REPLY_RECEIVED_OFF 0u
#define ODL_WIRE_LOAD_REPLAY_REPLY_COMPLETE_OFF 2u
#define ODL_WIRE_LOAD_REPLAY_REPLY_RESERVED_OFF 3u
#define ODL_WIRE_LOAD_REPLAY_REPLY_REPLAY_BYTES_OFF 4u

/* load_replay_reply: the body */
typedef struct odl_wire_load_replay_reply {
	uint16_t received;
	uint8_t complete;
	uint8_t reserved;
	uint32_t replay_bytes;
} odl_wire_load_replay_reply_t;

static inline void odl_wire_load_replay_reply_get(const uint8_t *b, odl_wire_load_replay_reply_t *m)
{
	m->received = odl_get_u16(b + ODL_WIRE_LOAD_REPLAY_REPLY_RECEIVED_OFF);
	m->complete = (b + ODL_WIRE_LOAD_REPLAY_REPLY_COMPLETE_OFF)[0];
	m->reserved = (b + ODL_WIRE_LOAD_REPLAY_REPLY_RESERVED_OFF)[0];
	m->replay_bytes = odl_get_u32(b + ODL_WIRE_LOAD_REPLAY_REPLY_REPLAY_BYTES_OFF);
}

static inline size_t odl_wire_load_replay_reply_put(uint8_t *b, const odl_wire_load_replay_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_LOAD_REPLAY_REPLY_RECEIVED_OFF, m->received);
	(b + ODL_WIRE_LOAD_REPLAY_REPLY_COMPLETE_OFF)[0] = m->complete;
	(b + ODL_WIRE_LOAD_REPLAY_REPLY_RESERVED_OFF)[0] = m->reserved;
	odl_put_u32(b + ODL_WIRE_LOAD_REPLAY_REPLY_REPLAY_BYTES_OFF, m->replay_bytes);
	return 8u;
}

#define ODL_WIRE_GROW_CMD 0x0Bu
#define ODL_WIRE_GROW_BYTES 16u
_Static_assert(ODL_WIRE_GROW_BYTES <= ODL_PROTO_MAX_BODY, "grow does not fit a body");
#define ODL_WIRE_GROW_SIZES_OFF 0u
#define ODL_WIRE_GROW_SIZES_LEN 5u
#define ODL_WIRE_GROW_RESERVED_OFF 10u
#define ODL_WIRE_GROW_SEED_OFF 12u

/* grow: the body */
typedef struct odl_wire_grow {
	uint16_t sizes[5];
	uint16_t reserved;
	uint32_t seed;
} odl_wire_grow_t;

static inline void odl_wire_grow_get(const uint8_t *b, odl_wire_grow_t *m)
{
	for (size_t i = 0; i < 5u; i++) {
		m->sizes[i] = odl_get_u16(b + ODL_WIRE_GROW_SIZES_OFF + 2u * i);
	}
	m->reserved = odl_get_u16(b + ODL_WIRE_GROW_RESERVED_OFF);
	m->seed = odl_get_u32(b + ODL_WIRE_GROW_SEED_OFF);
}

static inline size_t odl_wire_grow_put(uint8_t *b, const odl_wire_grow_t *m)
{
	for (size_t i = 0; i < 5u; i++) {
		odl_put_u16(b + ODL_WIRE_GROW_SIZES_OFF + 2u * i, m->sizes[i]);
	}
	odl_put_u16(b + ODL_WIRE_GROW_RESERVED_OFF, m->reserved);
	odl_put_u32(b + ODL_WIRE_GROW_SEED_OFF, m->seed);
	return 16u;
}

#define ODL_WIRE_GROW_REPLY_CMD 0x8Bu
#define ODL_WIRE_GROW_REPLY_BYTES 8u
_Static_assert(ODL_WIRE_GROW_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "grow_reply does not fit a body");
#define ODL_WIRE_GROW_REPLY_N_PARAMS_OFF 0u
#define ODL_WIRE_GROW_REPLY_ARENA_USED_OFF 4u

/* grow_reply: the body */
typedef struct odl_wire_grow_reply {
	uint32_t n_params;
	uint32_t arena_used;
} odl_wire_grow_reply_t;

static inline void odl_wire_grow_reply_get(const uint8_t *b, odl_wire_grow_reply_t *m)
{
	m->n_params = odl_get_u32(b + ODL_WIRE_GROW_REPLY_N_PARAMS_OFF);
	m->arena_used = odl_get_u32(b + ODL_WIRE_GROW_REPLY_ARENA_USED_OFF);
}

static inline size_t odl_wire_grow_reply_put(uint8_t *b, const odl_wire_grow_reply_t *m)
{
	odl_put_u32(b + ODL_WIRE_GROW_REPLY_N_PARAMS_OFF, m->n_params);
	odl_put_u32(b + ODL_WIRE_GROW_REPLY_ARENA_USED_OFF, m->arena_used);
	return 8u;
}

#define ODL_WIRE_FRAGMENT_CMD 0x0Cu
#define ODL_WIRE_FRAGMENT_HEAD_BYTES 8u
_Static_assert(ODL_WIRE_FRAGMENT_HEAD_BYTES <= ODL_PROTO_MAX_BODY, "fragment does not fit a body");
#define ODL_WIRE_FRAGMENT_CMD_OFF 0u
#define ODL_WIRE_FRAGMENT_RESERVED_OFF 1u
#define ODL_WIRE_FRAGMENT_FIRST_SEQ_OFF 2u
#define ODL_WIRE_FRAGMENT_TOTAL_OFF 4u
#define ODL_WIRE_FRAGMENT_OFFSET_OFF 6u
/* then: blob piece */

/* fragment: its fixed head */
typedef struct odl_wire_fragment {
	uint8_t cmd;
	uint8_t reserved;
	uint16_t first_seq;
	uint16_t total;
	uint16_t offset;
} odl_wire_fragment_t;

static inline void odl_wire_fragment_get(const uint8_t *b, odl_wire_fragment_t *m)
{
	m->cmd = (b + ODL_WIRE_FRAGMENT_CMD_OFF)[0];
	m->reserved = (b + ODL_WIRE_FRAGMENT_RESERVED_OFF)[0];
	m->first_seq = odl_get_u16(b + ODL_WIRE_FRAGMENT_FIRST_SEQ_OFF);
	m->total = odl_get_u16(b + ODL_WIRE_FRAGMENT_TOTAL_OFF);
	m->offset = odl_get_u16(b + ODL_WIRE_FRAGMENT_OFFSET_OFF);
}

static inline size_t odl_wire_fragment_put(uint8_t *b, const odl_wire_fragment_t *m)
{
	(b + ODL_WIRE_FRAGMENT_CMD_OFF)[0] = m->cmd;
	(b + ODL_WIRE_FRAGMENT_RESERVED_OFF)[0] = m->reserved;
	odl_put_u16(b + ODL_WIRE_FRAGMENT_FIRST_SEQ_OFF, m->first_seq);
	odl_put_u16(b + ODL_WIRE_FRAGMENT_TOTAL_OFF, m->total);
	odl_put_u16(b + ODL_WIRE_FRAGMENT_OFFSET_OFF, m->offset);
	return 8u;
}

#define ODL_WIRE_FRAGMENT_REPLY_CMD 0x8Cu
#define ODL_WIRE_FRAGMENT_REPLY_BYTES 4u
_Static_assert(ODL_WIRE_FRAGMENT_REPLY_BYTES <= ODL_PROTO_MAX_BODY, "fragment_reply does not fit a body");
#define ODL_WIRE_FRAGMENT_REPLY_RECEIVED_OFF 0u
#define ODL_WIRE_FRAGMENT_REPLY_TOTAL_OFF 2u

/* fragment_reply: the body */
typedef struct odl_wire_fragment_reply {
	uint16_t received;
	uint16_t total;
} odl_wire_fragment_reply_t;

static inline void odl_wire_fragment_reply_get(const uint8_t *b, odl_wire_fragment_reply_t *m)
{
	m->received = odl_get_u16(b + ODL_WIRE_FRAGMENT_REPLY_RECEIVED_OFF);
	m->total = odl_get_u16(b + ODL_WIRE_FRAGMENT_REPLY_TOTAL_OFF);
}

static inline size_t odl_wire_fragment_reply_put(uint8_t *b, const odl_wire_fragment_reply_t *m)
{
	odl_put_u16(b + ODL_WIRE_FRAGMENT_REPLY_RECEIVED_OFF, m->received);
	odl_put_u16(b + ODL_WIRE_FRAGMENT_REPLY_TOTAL_OFF, m->total);
	return 4u;
}

#define ODL_WIRE_ERROR_CMD 0xFFu
#define ODL_WIRE_ERROR_BYTES 8u
_Static_assert(ODL_WIRE_ERROR_BYTES <= ODL_PROTO_MAX_BODY, "error does not fit a body");
#define ODL_WIRE_ERROR_CODE_OFF 0u
#define ODL_WIRE_ERROR_CMD_OFF 1u
#define ODL_WIRE_ERROR_CORE_STATUS_OFF 2u
#define ODL_WIRE_ERROR_EXPECTED_SEQ_OFF 4u
#define ODL_WIRE_ERROR_DETAIL_OFF 6u

/* error: the body */
typedef struct odl_wire_error {
	uint8_t code;
	uint8_t cmd;
	int16_t core_status;
	uint16_t expected_seq;
	uint16_t detail;
} odl_wire_error_t;

static inline void odl_wire_error_get(const uint8_t *b, odl_wire_error_t *m)
{
	m->code = (b + ODL_WIRE_ERROR_CODE_OFF)[0];
	m->cmd = (b + ODL_WIRE_ERROR_CMD_OFF)[0];
	m->core_status = (int16_t)odl_get_u16(b + ODL_WIRE_ERROR_CORE_STATUS_OFF);
	m->expected_seq = odl_get_u16(b + ODL_WIRE_ERROR_EXPECTED_SEQ_OFF);
	m->detail = odl_get_u16(b + ODL_WIRE_ERROR_DETAIL_OFF);
}

static inline size_t odl_wire_error_put(uint8_t *b, const odl_wire_error_t *m)
{
	(b + ODL_WIRE_ERROR_CODE_OFF)[0] = m->code;
	(b + ODL_WIRE_ERROR_CMD_OFF)[0] = m->cmd;
	odl_put_u16(b + ODL_WIRE_ERROR_CORE_STATUS_OFF, (uint16_t)m->core_status);
	odl_put_u16(b + ODL_WIRE_ERROR_EXPECTED_SEQ_OFF, m->expected_seq);
	odl_put_u16(b + ODL_WIRE_ERROR_DETAIL_OFF, m->detail);
	return 8u;
}

_Static_assert(ODL_MAX_LAYERS + 1 <= ODL_WIRE_CONFIGURE_SIZES_LEN, "CONFIGURE has room for 5 sizes");
_Static_assert(ODL_MAX_LAYERS <= ODL_WIRE_METRICS_REPLY_LAYERS_LEN, "METRICS has room for 4 layers");

/* CONFIGURE's training parameters into the core's struct. */
static inline void odl_wire_configure_params(const odl_wire_configure_t *m, odl_train_params_t *p)
{
	memset(p, 0, sizeof(*p));
	p->strategy = m->strategy;
	p->select_score = m->select_score;
	p->learning_rate = m->learning_rate;
	p->momentum = m->momentum;
	p->tp_s_min = m->s_min;
	p->tp_s_max = m->s_max;
	p->tp_zeta = m->zeta;
	p->gate_threshold = m->gate_threshold;
	p->select_threshold = m->select_threshold;
	p->pseudo_score = m->pseudo_score;
	p->pseudo_threshold = m->pseudo_threshold;
	p->l2sp_lambda = m->l2sp_lambda;
}

#ifdef ODL_WIRE_DESCRIPTORS
/* type: struct format char, 's' str, 'b' bytes, '*' blob, 'S' struct (index) */
typedef struct odl_wire_field_desc {
	const char *name;
	char type;
	uint8_t count;
	uint8_t array;
	int8_t struct_index;
} odl_wire_field_desc_t;

typedef struct odl_wire_struct_desc {
	const char *name;
	const odl_wire_field_desc_t *fields;
	uint8_t n_fields;
	uint16_t size;
} odl_wire_struct_desc_t;

typedef struct odl_wire_msg_desc {
	const char *name;
	uint8_t cmd;
	const odl_wire_field_desc_t *fields;
	uint8_t n_fields;
	uint16_t head_bytes;
	uint8_t fixed;
	/* decode the head with the generated get, encode with put: bytes written */
	size_t (*roundtrip)(const uint8_t *in, uint8_t *out);
} odl_wire_msg_desc_t;

static const odl_wire_field_desc_t odl_wire_cycle_stat_fields[] = {
	{"count", 'I', 1u, 0u, -1},
	{"min", 'I', 1u, 0u, -1},
	{"max", 'I', 1u, 0u, -1},
	{"sum", 'Q', 1u, 0u, -1},
};
static const odl_wire_field_desc_t odl_wire_layer_k_fields[] = {
	{"k_sum", 'Q', 1u, 0u, -1},
	{"k_min", 'H', 1u, 0u, -1},
	{"k_max", 'H', 1u, 0u, -1},
	{"reserved", 'I', 1u, 0u, -1},
};
static const odl_wire_field_desc_t odl_wire_prediction_fields[] = {
	{"predicted", 'B', 1u, 0u, -1},
	{"second", 'B', 1u, 0u, -1},
	{"p1", 'f', 1u, 0u, -1},
	{"p2", 'f', 1u, 0u, -1},
	{"score", 'f', 1u, 0u, -1},
};
static const odl_wire_struct_desc_t odl_wire_structs[] = {
	{"cycle_stat", odl_wire_cycle_stat_fields, 4u, 20u},
	{"layer_k", odl_wire_layer_k_fields, 4u, 16u},
	{"prediction", odl_wire_prediction_fields, 5u, 14u},
};

static const odl_wire_field_desc_t odl_wire_hello_reply_fields[] = {
	{"protocol_version", 'B', 1u, 0u, -1},
	{"max_layers", 'B', 1u, 0u, -1},
	{"max_inputs", 'H', 1u, 0u, -1},
	{"max_neurons", 'H', 1u, 0u, -1},
	{"max_body", 'H', 1u, 0u, -1},
	{"rx_capacity", 'I', 1u, 0u, -1},
	{"cycles_hz", 'I', 1u, 0u, -1},
	{"arena_size", 'I', 1u, 0u, -1},
	{"stack_size", 'I', 1u, 0u, -1},
	{"strategies_mask", 'B', 1u, 0u, -1},
	{"scores_mask", 'B', 1u, 0u, -1},
	{"fw_version", 's', 1u, 0u, -1},
	{"git_hash", 's', 1u, 0u, -1},
	{"board", 's', 1u, 0u, -1},
	{"device_id", 'b', 1u, 0u, -1},
	{"last_seq", 'H', 1u, 0u, -1},
	{"last_seq_valid", 'B', 1u, 0u, -1},
	{"frag_max", 'H', 1u, 0u, -1},
};
static size_t odl_wire_hello_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_hello_reply_t m;

	odl_wire_hello_reply_get(in, &m);
	return odl_wire_hello_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_configure_fields[] = {
	{"n_layers", 'B', 1u, 0u, -1},
	{"strategy", 'B', 1u, 0u, -1},
	{"sizes", 'H', 5u, 1u, -1},
	{"select_score", 'B', 1u, 0u, -1},
	{"init_weights", 'B', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"learning_rate", 'f', 1u, 0u, -1},
	{"momentum", 'f', 1u, 0u, -1},
	{"s_min", 'f', 1u, 0u, -1},
	{"s_max", 'f', 1u, 0u, -1},
	{"zeta", 'f', 1u, 0u, -1},
	{"gate_threshold", 'f', 1u, 0u, -1},
	{"select_threshold", 'f', 1u, 0u, -1},
	{"seed", 'I', 1u, 0u, -1},
	{"pseudo_score", 'B', 1u, 0u, -1},
	{"reserved2", 'B', 1u, 0u, -1},
	{"reserved3", 'H', 1u, 0u, -1},
	{"pseudo_threshold", 'f', 1u, 0u, -1},
	{"l2sp_lambda", 'f', 1u, 0u, -1},
};
static size_t odl_wire_configure_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_configure_t m;

	odl_wire_configure_get(in, &m);
	return odl_wire_configure_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_configure_continual_fields[] = {
	{"n_layers", 'B', 1u, 0u, -1},
	{"strategy", 'B', 1u, 0u, -1},
	{"sizes", 'H', 5u, 1u, -1},
	{"select_score", 'B', 1u, 0u, -1},
	{"init_weights", 'B', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"learning_rate", 'f', 1u, 0u, -1},
	{"momentum", 'f', 1u, 0u, -1},
	{"s_min", 'f', 1u, 0u, -1},
	{"s_max", 'f', 1u, 0u, -1},
	{"zeta", 'f', 1u, 0u, -1},
	{"gate_threshold", 'f', 1u, 0u, -1},
	{"select_threshold", 'f', 1u, 0u, -1},
	{"seed", 'I', 1u, 0u, -1},
	{"pseudo_score", 'B', 1u, 0u, -1},
	{"reserved2", 'B', 1u, 0u, -1},
	{"reserved3", 'H', 1u, 0u, -1},
	{"pseudo_threshold", 'f', 1u, 0u, -1},
	{"l2sp_lambda", 'f', 1u, 0u, -1},
	{"max_sizes", 'H', 5u, 1u, -1},
	{"replay_capacity", 'I', 1u, 0u, -1},
};
static size_t odl_wire_configure_continual_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_configure_continual_t m;

	odl_wire_configure_continual_get(in, &m);
	return odl_wire_configure_continual_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_configure_reply_fields[] = {
	{"arena_needed", 'I', 1u, 0u, -1},
	{"arena_size", 'I', 1u, 0u, -1},
};
static size_t odl_wire_configure_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_configure_reply_t m;

	odl_wire_configure_reply_get(in, &m);
	return odl_wire_configure_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_load_weights_fields[] = {
	{"offset", 'I', 1u, 0u, -1},
	{"total", 'I', 1u, 0u, -1},
	{"chunk", '*', 1u, 0u, -1},
};
static size_t odl_wire_load_weights_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_load_weights_t m;

	odl_wire_load_weights_get(in, &m);
	return odl_wire_load_weights_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_load_weights_reply_fields[] = {
	{"received", 'I', 1u, 0u, -1},
	{"complete", 'B', 1u, 0u, -1},
};
static size_t odl_wire_load_weights_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_load_weights_reply_t m;

	odl_wire_load_weights_reply_get(in, &m);
	return odl_wire_load_weights_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_read_weights_fields[] = {
	{"offset", 'I', 1u, 0u, -1},
	{"max_len", 'H', 1u, 0u, -1},
};
static size_t odl_wire_read_weights_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_read_weights_t m;

	odl_wire_read_weights_get(in, &m);
	return odl_wire_read_weights_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_read_weights_reply_fields[] = {
	{"total", 'I', 1u, 0u, -1},
	{"offset", 'I', 1u, 0u, -1},
	{"chunk", '*', 1u, 0u, -1},
};
static size_t odl_wire_read_weights_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_read_weights_reply_t m;

	odl_wire_read_weights_reply_get(in, &m);
	return odl_wire_read_weights_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_batch_fields[] = {
	{"encoding", 'B', 1u, 0u, -1},
	{"score_kind", 'B', 1u, 0u, -1},
	{"count", 'H', 1u, 0u, -1},
	{"n_features", 'H', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"records", '*', 1u, 0u, -1},
};
static size_t odl_wire_batch_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_batch_t m;

	odl_wire_batch_get(in, &m);
	return odl_wire_batch_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_batch_quant_fields[] = {
	{"encoding", 'B', 1u, 0u, -1},
	{"score_kind", 'B', 1u, 0u, -1},
	{"count", 'H', 1u, 0u, -1},
	{"n_features", 'H', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"scale", 'f', 1u, 0u, -1},
	{"zero_point", 'h', 1u, 0u, -1},
	{"reserved2", 'H', 1u, 0u, -1},
	{"records", '*', 1u, 0u, -1},
};
static size_t odl_wire_batch_quant_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_batch_quant_t m;

	odl_wire_batch_quant_get(in, &m);
	return odl_wire_batch_quant_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_train_reply_fields[] = {
	{"count", 'H', 1u, 0u, -1},
	{"trained", 'H', 1u, 0u, -1},
	{"skipped", 'H', 1u, 0u, -1},
	{"not_selected", 'H', 1u, 0u, -1},
	{"loss_sum", 'f', 1u, 0u, -1},
	{"per_sample", '*', 1u, 0u, -1},
};
static size_t odl_wire_train_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_train_reply_t m;

	odl_wire_train_reply_get(in, &m);
	return odl_wire_train_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_train_unlabelled_reply_fields[] = {
	{"count", 'H', 1u, 0u, -1},
	{"trained", 'H', 1u, 0u, -1},
	{"skipped", 'H', 1u, 0u, -1},
	{"not_selected", 'H', 1u, 0u, -1},
	{"not_confident", 'H', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"loss_sum", 'f', 1u, 0u, -1},
	{"per_sample", '*', 1u, 0u, -1},
};
static size_t odl_wire_train_unlabelled_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_train_unlabelled_reply_t m;

	odl_wire_train_unlabelled_reply_get(in, &m);
	return odl_wire_train_unlabelled_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_infer_reply_fields[] = {
	{"count", 'H', 1u, 0u, -1},
	{"predictions", '*', 1u, 0u, -1},
};
static size_t odl_wire_infer_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_infer_reply_t m;

	odl_wire_infer_reply_get(in, &m);
	return odl_wire_infer_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_evaluate_reply_fields[] = {
	{"count", 'H', 1u, 0u, -1},
	{"correct", 'H', 1u, 0u, -1},
	{"loss_sum", 'f', 1u, 0u, -1},
	{"predictions", '*', 1u, 0u, -1},
};
static size_t odl_wire_evaluate_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_evaluate_reply_t m;

	odl_wire_evaluate_reply_get(in, &m);
	return odl_wire_evaluate_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_metrics_fields[] = {
	{"reset", 'B', 1u, 0u, -1},
};
static size_t odl_wire_metrics_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_metrics_t m;

	odl_wire_metrics_get(in, &m);
	return odl_wire_metrics_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_metrics_reply_fields[] = {
	{"forward", 'S', 1u, 0u, 0},
	{"backward", 'S', 1u, 0u, 0},
	{"update", 'S', 1u, 0u, 0},
	{"macs_forward", 'Q', 1u, 0u, -1},
	{"macs_backward", 'Q', 1u, 0u, -1},
	{"macs_backward_full", 'Q', 1u, 0u, -1},
	{"seen", 'I', 1u, 0u, -1},
	{"selected", 'I', 1u, 0u, -1},
	{"trained", 'I', 1u, 0u, -1},
	{"skipped", 'I', 1u, 0u, -1},
	{"n_layers", 'B', 1u, 0u, -1},
	{"configured", 'B', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"layers", 'S', 4u, 1u, 1},
	{"arena_size", 'I', 1u, 0u, -1},
	{"arena_needed", 'I', 1u, 0u, -1},
	{"arena_peak", 'I', 1u, 0u, -1},
	{"stack_size", 'I', 1u, 0u, -1},
	{"stack_high_water", 'I', 1u, 0u, -1},
	{"rx_overruns", 'I', 1u, 0u, -1},
	{"frames_ok", 'I', 1u, 0u, -1},
	{"frames_bad", 'I', 1u, 0u, -1},
	{"frames_duplicate", 'I', 1u, 0u, -1},
	{"cycles_hz", 'I', 1u, 0u, -1},
};
static size_t odl_wire_metrics_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_metrics_reply_t m;

	odl_wire_metrics_reply_get(in, &m);
	return odl_wire_metrics_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_reset_fields[] = {
	{"hard", 'B', 1u, 0u, -1},
};
static size_t odl_wire_reset_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_reset_t m;

	odl_wire_reset_get(in, &m);
	return odl_wire_reset_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_load_replay_fields[] = {
	{"first", 'H', 1u, 0u, -1},
	{"total", 'H', 1u, 0u, -1},
	{"n_features", 'H', 1u, 0u, -1},
	{"encoding", 'B', 1u, 0u, -1},
	{"ratio", 'B', 1u, 0u, -1},
	{"scale", 'f', 1u, 0u, -1},
	{"zero_point", 'h', 1u, 0u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"records", '*', 1u, 0u, -1},
};
static size_t odl_wire_load_replay_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_load_replay_t m;

	odl_wire_load_replay_get(in, &m);
	return odl_wire_load_replay_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_load_replay_reply_fields[] = {
	{"received", 'H', 1u, 0u, -1},
	{"complete", 'B', 1u, 0u, -1},
	{"reserved", 'B', 1u, 0u, -1},
	{"replay_bytes", 'I', 1u, 0u, -1},
};
static size_t odl_wire_load_replay_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_load_replay_reply_t m;

	odl_wire_load_replay_reply_get(in, &m);
	return odl_wire_load_replay_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_grow_fields[] = {
	{"sizes", 'H', 5u, 1u, -1},
	{"reserved", 'H', 1u, 0u, -1},
	{"seed", 'I', 1u, 0u, -1},
};
static size_t odl_wire_grow_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_grow_t m;

	odl_wire_grow_get(in, &m);
	return odl_wire_grow_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_grow_reply_fields[] = {
	{"n_params", 'I', 1u, 0u, -1},
	{"arena_used", 'I', 1u, 0u, -1},
};
static size_t odl_wire_grow_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_grow_reply_t m;

	odl_wire_grow_reply_get(in, &m);
	return odl_wire_grow_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_fragment_fields[] = {
	{"cmd", 'B', 1u, 0u, -1},
	{"reserved", 'B', 1u, 0u, -1},
	{"first_seq", 'H', 1u, 0u, -1},
	{"total", 'H', 1u, 0u, -1},
	{"offset", 'H', 1u, 0u, -1},
	{"piece", '*', 1u, 0u, -1},
};
static size_t odl_wire_fragment_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_fragment_t m;

	odl_wire_fragment_get(in, &m);
	return odl_wire_fragment_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_fragment_reply_fields[] = {
	{"received", 'H', 1u, 0u, -1},
	{"total", 'H', 1u, 0u, -1},
};
static size_t odl_wire_fragment_reply_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_fragment_reply_t m;

	odl_wire_fragment_reply_get(in, &m);
	return odl_wire_fragment_reply_put(out, &m);
}
static const odl_wire_field_desc_t odl_wire_error_fields[] = {
	{"code", 'B', 1u, 0u, -1},
	{"cmd", 'B', 1u, 0u, -1},
	{"core_status", 'h', 1u, 0u, -1},
	{"expected_seq", 'H', 1u, 0u, -1},
	{"detail", 'H', 1u, 0u, -1},
};
static size_t odl_wire_error_roundtrip(const uint8_t *in, uint8_t *out)
{
	odl_wire_error_t m;

	odl_wire_error_get(in, &m);
	return odl_wire_error_put(out, &m);
}
static const odl_wire_msg_desc_t odl_wire_messages[] = {
	{"hello", 0x01u, NULL, 0u, 0u, 1u, NULL},
	{"hello_reply", 0x81u, odl_wire_hello_reply_fields, 18u, 26u, 0u, odl_wire_hello_reply_roundtrip},
	{"configure", 0x02u, odl_wire_configure_fields, 19u, 60u, 1u, odl_wire_configure_roundtrip},
	{"configure_continual", 0x02u, odl_wire_configure_continual_fields, 21u, 74u, 1u, odl_wire_configure_continual_roundtrip},
	{"configure_reply", 0x82u, odl_wire_configure_reply_fields, 2u, 8u, 1u, odl_wire_configure_reply_roundtrip},
	{"load_weights", 0x03u, odl_wire_load_weights_fields, 3u, 8u, 0u, odl_wire_load_weights_roundtrip},
	{"load_weights_reply", 0x83u, odl_wire_load_weights_reply_fields, 2u, 5u, 1u, odl_wire_load_weights_reply_roundtrip},
	{"read_weights", 0x04u, odl_wire_read_weights_fields, 2u, 6u, 1u, odl_wire_read_weights_roundtrip},
	{"read_weights_reply", 0x84u, odl_wire_read_weights_reply_fields, 3u, 8u, 0u, odl_wire_read_weights_reply_roundtrip},
	{"batch", 0x05u, odl_wire_batch_fields, 6u, 8u, 0u, odl_wire_batch_roundtrip},
	{"batch_quant", 0x05u, odl_wire_batch_quant_fields, 9u, 16u, 0u, odl_wire_batch_quant_roundtrip},
	{"train_reply", 0x85u, odl_wire_train_reply_fields, 6u, 12u, 0u, odl_wire_train_reply_roundtrip},
	{"train_unlabelled_reply", 0x8Du, odl_wire_train_unlabelled_reply_fields, 8u, 16u, 0u, odl_wire_train_unlabelled_reply_roundtrip},
	{"infer_reply", 0x86u, odl_wire_infer_reply_fields, 2u, 2u, 0u, odl_wire_infer_reply_roundtrip},
	{"evaluate_reply", 0x87u, odl_wire_evaluate_reply_fields, 4u, 8u, 0u, odl_wire_evaluate_reply_roundtrip},
	{"metrics", 0x08u, odl_wire_metrics_fields, 1u, 1u, 1u, odl_wire_metrics_roundtrip},
	{"metrics_reply", 0x88u, odl_wire_metrics_reply_fields, 24u, 208u, 1u, odl_wire_metrics_reply_roundtrip},
	{"reset", 0x09u, odl_wire_reset_fields, 1u, 1u, 1u, odl_wire_reset_roundtrip},
	{"reset_reply", 0x89u, NULL, 0u, 0u, 1u, NULL},
	{"load_replay", 0x0Au, odl_wire_load_replay_fields, 9u, 16u, 0u, odl_wire_load_replay_roundtrip},
	{"load_replay_reply", 0x8Au, odl_wire_load_replay_reply_fields, 4u, 8u, 1u, odl_wire_load_replay_reply_roundtrip},
	{"grow", 0x0Bu, odl_wire_grow_fields, 3u, 16u, 1u, odl_wire_grow_roundtrip},
	{"grow_reply", 0x8Bu, odl_wire_grow_reply_fields, 2u, 8u, 1u, odl_wire_grow_reply_roundtrip},
	{"fragment", 0x0Cu, odl_wire_fragment_fields, 6u, 8u, 0u, odl_wire_fragment_roundtrip},
	{"fragment_reply", 0x8Cu, odl_wire_fragment_reply_fields, 2u, 4u, 1u, odl_wire_fragment_reply_roundtrip},
	{"error", 0xFFu, odl_wire_error_fields, 5u, 8u, 1u, odl_wire_error_roundtrip},
};
#endif /* ODL_WIRE_DESCRIPTORS */

#ifdef __cplusplus
}
#endif

#endif /* ODL_WIRE_GEN_H */
