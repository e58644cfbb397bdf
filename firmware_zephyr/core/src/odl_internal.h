/* Helpers shared by the core's source files; not part of the public API. */
#ifndef ODL_INTERNAL_H
#define ODL_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "odl/odl_model.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weight blob is copied in place: little-endian targets only"
#endif

/* Parameters of all layers are one contiguous float array in blob order. */
static inline float *odl_params(const odl_model_t *m)
{
	return m->layers[0].w;
}

static inline int odl_all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i])) {
			return 0;
		}
	}
	return 1;
}

static inline uint32_t odl_now(const odl_model_t *m)
{
	return m->clock != NULL ? m->clock(m->clock_ctx) : 0u;
}

static inline void odl_cycle_stat_add(odl_cycle_stat_t *s, uint32_t cycles)
{
	if (s->count == 0u || cycles < s->min) {
		s->min = cycles;
	}
	if (cycles > s->max) {
		s->max = cycles;
	}
	s->count++;
	s->sum += cycles;
}

/* Forget what training accumulated: TinyProp maxima, velocities, statistics. */
void odl_model_reset_training_state(odl_model_t *m);

/* Forward pass into the layers' out buffers; probabilities end in the last
 * layer's out. Counts forward MACs and cycles into stats. Returns the
 * forward MACs. */
uint32_t odl_forward(odl_model_t *m, const float *x, uint32_t *cycles);

#endif /* ODL_INTERNAL_H */
