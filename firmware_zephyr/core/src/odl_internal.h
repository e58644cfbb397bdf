/* Helpers shared by the core's source files; not part of the public API. */
#ifndef ODL_INTERNAL_H
#define ODL_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "odl/odl_model.h"
#include "odl_kernels.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weight blob is copied in place: little-endian targets only"
#endif

/* Parameters of all layers are one contiguous float array in blob order. */
static inline float *odl_params(const odl_model_t *m)
{
	return m->layers[0].w;
}

/* 1 when v's exponent bits are all ones (Inf or NaN): adding one to the
 * exponent field then carries into the sign bit. */
static inline uint32_t odl_nonfinite_bit(const float *v)
{
	uint32_t u;

	memcpy(&u, v, sizeof(u));
	return ((u & 0x7F800000u) + 0x00800000u) >> 31;
}

/* |v| as its bit pattern: for finite floats and infinities the integer order
 * of these is the order of the magnitudes (fabsf compares), and an integer
 * compare is a fraction of a float compare's cost on every target. */
static inline uint32_t odl_mag_bits(const float *v)
{
	uint32_t u;

	memcpy(&u, v, sizeof(u));
	return u & 0x7FFFFFFFu;
}

/* Branch-free over four values at a time: no float compares (library calls
 * on soft float) and one test per four values. With a single-precision FPU,
 * eight values per load: the sum of v[i]*0 is NaN exactly when some v[i] is
 * Inf or NaN (a finite value times 0 is +-0), about 1.4 instructions a value
 * instead of 5. */
static inline int odl_all_finite(const float *v, size_t n)
{
	uint32_t bad = 0;
	size_t i = 0;

#ifdef ODL_KERNELS_VFP
	float acc = 0.0f;
	uint32_t blocks = (uint32_t)(n >> 3);
	const float *p = v;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[p]!, {s0-s7}\n\t"
			       "vmla.f32 %[acc], s0, %[z]\n\t"
			       "vmla.f32 %[acc], s1, %[z]\n\t"
			       "vmla.f32 %[acc], s2, %[z]\n\t"
			       "vmla.f32 %[acc], s3, %[z]\n\t"
			       "vmla.f32 %[acc], s4, %[z]\n\t"
			       "vmla.f32 %[acc], s5, %[z]\n\t"
			       "vmla.f32 %[acc], s6, %[z]\n\t"
			       "vmla.f32 %[acc], s7, %[z]\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [acc] "+t"(acc), [p] "+r"(p), [b] "+r"(blocks)
			       : [z] "t"(0.0f)
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "cc", "memory");
	}
	bad = odl_nonfinite_bit(&acc);
	i = n & ~(size_t)7u;
#endif

	for (; i + 4u <= n; i += 4u) {
		bad |= odl_nonfinite_bit(&v[i]) | odl_nonfinite_bit(&v[i + 1u]) |
		       odl_nonfinite_bit(&v[i + 2u]) | odl_nonfinite_bit(&v[i + 3u]);
	}
	for (; i < n; i++) {
		bad |= odl_nonfinite_bit(&v[i]);
	}
	return bad == 0u;
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

/* Lay m out again for a grown arch whose parameters the caller has moved
 * into place (odl_grow.c); keeps statistics, resets training state. */
void odl_model_relayout(odl_model_t *m, const odl_arch_t *arch);

/* Forward pass into the layers' out buffers; the last layer's out holds the
 * logits, or the probabilities when softmax is set (a prediction alone needs
 * no softmax: it keeps the order of the logits). Counts forward MACs and
 * cycles into stats. Returns the forward MACs. */
uint32_t odl_forward(odl_model_t *m, const float *x, int softmax, uint32_t *cycles);

#endif /* ODL_INTERNAL_H */
