/*
 * odl_grow.h - function-preserving growth of a model in its own arena
 * (continual learning: new classes, more capacity; docs/core.md "Growth").
 *
 * odl_model_grow() takes the model to a larger architecture `to` with the
 * same depth and inputs, every size >= the current one:
 *   - a hidden layer l widened by D neurons: D new rows in layer l-1's
 *     weights with He-uniform values U(-sqrt(6/n_in), +sqrt(6/n_in)) over its
 *     new n_in, zero biases; D new columns of zeros in layer l's weights;
 *   - new classes: new rows of zero weights and zero bias in the output layer.
 * The random values come from one xorshift32 stream seeded with seed
 * (odl_rng.h), consumed layer by layer from the input, each layer's new rows
 * in row-major order. Old rows keep their values and get zero weights from
 * new inputs, so every old neuron and every old logit is unchanged by the
 * growth itself; a new class's logit is 0, so the old classes keep their
 * logits, their probability ratios and their order among themselves (a
 * sample is predicted as a new class only where every old logit is below 0).
 *
 * Momentum velocities and TinyProp's maxima restart from zero; statistics
 * are kept. The model's arena must hold the grown layout (size it for the
 * largest model at init). Nothing changes unless the result is ODL_OK.
 */
#ifndef ODL_GROW_H
#define ODL_GROW_H

#include <stdint.h>

#include "odl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ODL_OK when model can grow to `to`: ODL_ERR_ARCH past the compile-time
 * maxima, ODL_ERR_GROW for a shrinking size or a change of depth or inputs,
 * ODL_ERR_ARENA_TOO_SMALL when the grown layout does not fit the model's arena. */
odl_status_t odl_model_grow_check(const odl_model_t *model, const odl_arch_t *to);

/* Grow model to `to` as described above (checks first, like odl_model_grow_check). */
odl_status_t odl_model_grow(odl_model_t *model, const odl_arch_t *to, uint32_t seed);

#ifdef __cplusplus
}
#endif

#endif /* ODL_GROW_H */
