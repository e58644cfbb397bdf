/*
 * odl_train.h - one on-device training step under the model's strategy.
 *
 * A step is: forward pass; optional data point selection (is this sample
 * uncertain enough to ask for its label?); optional skip gate (is the error
 * big enough to be worth a backward pass?); backward pass; SGD update.
 * Training is online, one sample per step, deterministic for given weights
 * and inputs.
 *
 * Cost accounting per step: multiply-accumulates by formula (bias terms are
 * not counted) and, when a clock is set, cycles around each phase:
 *  - forward:  sum over layers of n_in * n_out
 *  - backward: per trainable layer, rows * n_in for the weight gradient,
 *              plus rows * n_in to pass the error down when the layer below
 *              learns too (never for the first layer); rows = k for TinyProp,
 *              n_out otherwise
 *  - backward_full: the same with every layer trainable and rows = n_out
 *  - cycles_backward covers error propagation and TinyProp selection,
 *    cycles_update the weight gradient fused with the SGD write (the
 *    gradient is never stored, which halves training memory).
 */
#ifndef ODL_TRAIN_H
#define ODL_TRAIN_H

#include "odl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum odl_step_outcome {
	ODL_STEP_TRAINED = 0,
	ODL_STEP_SKIPPED = 1,      /* the skip gate found the error too small */
	ODL_STEP_NOT_SELECTED = 2, /* data point selection found the sample too certain */
	ODL_STEP_NOT_CONFIDENT = 3, /* unlabelled: not certain enough for a pseudo label */
} odl_step_outcome_t;

typedef struct odl_step_result {
	uint32_t outcome;   /* odl_step_outcome_t */
	uint16_t predicted; /* argmax of the forward pass before the update (the
			     * pseudo label of an unlabelled step that got one) */
	uint16_t k[ODL_MAX_LAYERS]; /* rows given gradients per layer (0 = frozen or not trained) */
	float loss;         /* cross-entropy before the update */
	float error;        /* 1 - p[label], the skip gate's measure */
	float score;        /* the selection score, 0 when selection is off */
	uint32_t macs_forward;
	uint32_t macs_backward;
	uint32_t macs_backward_full;
	uint32_t cycles_forward;
	uint32_t cycles_backward;
	uint32_t cycles_update;
} odl_step_result_t;

/*
 * One training step on sample x (n_x == sizes[0] finite floats) with its
 * label (< classes). result may be NULL. The model must have been initialised
 * with training parameters (else ODL_ERR_STATE).
 */
odl_status_t odl_train_step(odl_model_t *model, const float *x, size_t n_x, uint16_t label,
			    odl_step_result_t *result);

/*
 * One training step on an unlabelled sample (pseudo labels, self-training):
 * after the forward pass the sample's params.pseudo_score is compared with
 * params.pseudo_threshold (odl_uncertainty_confident()). Certain enough: the
 * step goes on exactly like odl_train_step() with label = the prediction
 * (result->predicted; data point selection and the gate still apply). Not
 * certain: outcome ODL_STEP_NOT_CONFIDENT, loss and error 0, nothing else
 * happens (the sample counts in stats.seen only).
 */
odl_status_t odl_train_step_unlabelled(odl_model_t *model, const float *x, size_t n_x,
				       odl_step_result_t *result);

#ifdef __cplusplus
}
#endif

#endif /* ODL_TRAIN_H */
