/*
 * odl_kernels.h - the three vector loops the core spends its time in, each
 * with a fixed order of float32 operations that the numpy twin repeats
 * (hil_service/reference/mlp.py, exact mode). Not part of the public API.
 *
 * On single-precision FPU targets (Cortex-M4F/M7) they are written with
 * VMLA/VMLS, which round the product before adding (unlike VFMA), so they
 * give the bits of the plain C loops compiled with -ffp-contract=off, in
 * fewer instructions: one multiply-accumulate per element instead of a
 * multiply and an add, eight elements per multi-register load.
 *
 * On soft-float targets (Cortex-M0/M3) a float multiply-add is two library
 * calls, so the loops skip terms whose input is zero (ReLU zeros, blank
 * pixels). That is exact: a zero input adds w*(+-0) = +-0 to a sum that
 * started at +0 and so is never -0, which leaves it unchanged.
 */
#ifndef ODL_KERNELS_H
#define ODL_KERNELS_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FP) && (__ARM_FP & 4) && !defined(__SOFTFP__) && defined(__thumb2__)
#define ODL_KERNELS_VFP 1
#elif defined(__arm__) && defined(__SOFTFP__)
#define ODL_KERNELS_SOFTFP 1
#endif

/* +0 or -0, by the bits: no float compare (a library call on soft float). */
static inline int odl_is_zero(float v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	return (u << 1) == 0u;
}

/* acc + w[0]*x[0] + w[1]*x[1] + ... in index order. */
static inline float odl_dot(float acc, const float *w, const float *x, uint16_t n)
{
#ifdef ODL_KERNELS_VFP
	uint32_t blocks = n >> 3;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[w]!, {s0-s7}\n\t"
			       "vldmia %[x]!, {s8-s15}\n\t"
			       "vmla.f32 %[acc], s0, s8\n\t"
			       "vmla.f32 %[acc], s1, s9\n\t"
			       "vmla.f32 %[acc], s2, s10\n\t"
			       "vmla.f32 %[acc], s3, s11\n\t"
			       "vmla.f32 %[acc], s4, s12\n\t"
			       "vmla.f32 %[acc], s5, s13\n\t"
			       "vmla.f32 %[acc], s6, s14\n\t"
			       "vmla.f32 %[acc], s7, s15\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [acc] "+t"(acc), [w] "+r"(w), [x] "+r"(x), [b] "+r"(blocks)
			       :
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		acc += w[j] * x[j];
	}
#else
	for (uint16_t j = 0; j < n; j++) {
#ifdef ODL_KERNELS_SOFTFP
		if (odl_is_zero(x[j])) {
			continue;
		}
#endif
		acc += w[j] * x[j];
	}
#endif
	return acc;
}

/* odl_dot(0, w0, x, n) and odl_dot(0, w1, x, n) together: two rows share
 * every load of x and the loop overhead. */
static inline void odl_dot2(const float *w0, const float *w1, const float *x, uint16_t n,
			    float *out0, float *out1)
{
#ifdef ODL_KERNELS_VFP
	float acc0 = 0.0f, acc1 = 0.0f;
	uint32_t blocks = n >> 3;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[x]!, {s0-s7}\n\t"
			       "vldmia %[w0]!, {s8-s15}\n\t"
			       "vldmia %[w1]!, {s16-s23}\n\t"
			       "vmla.f32 %[a0], s8, s0\n\t"
			       "vmla.f32 %[a1], s16, s0\n\t"
			       "vmla.f32 %[a0], s9, s1\n\t"
			       "vmla.f32 %[a1], s17, s1\n\t"
			       "vmla.f32 %[a0], s10, s2\n\t"
			       "vmla.f32 %[a1], s18, s2\n\t"
			       "vmla.f32 %[a0], s11, s3\n\t"
			       "vmla.f32 %[a1], s19, s3\n\t"
			       "vmla.f32 %[a0], s12, s4\n\t"
			       "vmla.f32 %[a1], s20, s4\n\t"
			       "vmla.f32 %[a0], s13, s5\n\t"
			       "vmla.f32 %[a1], s21, s5\n\t"
			       "vmla.f32 %[a0], s14, s6\n\t"
			       "vmla.f32 %[a1], s22, s6\n\t"
			       "vmla.f32 %[a0], s15, s7\n\t"
			       "vmla.f32 %[a1], s23, s7\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [a0] "+t"(acc0), [a1] "+t"(acc1), [w0] "+r"(w0), [w1] "+r"(w1),
				 [x] "+r"(x), [b] "+r"(blocks)
			       :
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19",
				 "s20", "s21", "s22", "s23", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		acc0 += w0[j] * x[j];
		acc1 += w1[j] * x[j];
	}
	*out0 = acc0;
	*out1 = acc1;
#else
	*out0 = odl_dot(0.0f, w0, x, n);
	*out1 = odl_dot(0.0f, w1, x, n);
#endif
}

/* y[j] += w[j] * d for j in 0..n-1. */
static inline void odl_axpy(float *y, const float *w, float d, uint16_t n)
{
#ifdef ODL_KERNELS_VFP
	uint32_t blocks = n >> 3;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[w]!, {s0-s7}\n\t"
			       "vldmia %[y], {s8-s15}\n\t"
			       "vmla.f32 s8, s0, %[d]\n\t"
			       "vmla.f32 s9, s1, %[d]\n\t"
			       "vmla.f32 s10, s2, %[d]\n\t"
			       "vmla.f32 s11, s3, %[d]\n\t"
			       "vmla.f32 s12, s4, %[d]\n\t"
			       "vmla.f32 s13, s5, %[d]\n\t"
			       "vmla.f32 s14, s6, %[d]\n\t"
			       "vmla.f32 s15, s7, %[d]\n\t"
			       "vstmia %[y]!, {s8-s15}\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [w] "+r"(w), [y] "+r"(y), [b] "+r"(blocks)
			       : [d] "t"(d)
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		y[j] += w[j] * d;
	}
#else
	for (uint16_t j = 0; j < n; j++) {
		y[j] += w[j] * d;
	}
#endif
}

/* y[j] = 0 + w[j] * d: the first row of an error pass, without zeroing y
 * first (w*d + 0 has the bits of 0 + w*d, -0 included). */
static inline void odl_axpy_first(float *y, const float *w, float d, uint16_t n)
{
#ifdef ODL_KERNELS_VFP
	uint32_t blocks = n >> 3;
	const float zero = 0.0f;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[w]!, {s0-s7}\n\t"
			       "vmul.f32 s8, s0, %[d]\n\t"
			       "vmul.f32 s9, s1, %[d]\n\t"
			       "vmul.f32 s10, s2, %[d]\n\t"
			       "vmul.f32 s11, s3, %[d]\n\t"
			       "vmul.f32 s12, s4, %[d]\n\t"
			       "vmul.f32 s13, s5, %[d]\n\t"
			       "vmul.f32 s14, s6, %[d]\n\t"
			       "vmul.f32 s15, s7, %[d]\n\t"
			       "vadd.f32 s8, s8, %[z]\n\t"
			       "vadd.f32 s9, s9, %[z]\n\t"
			       "vadd.f32 s10, s10, %[z]\n\t"
			       "vadd.f32 s11, s11, %[z]\n\t"
			       "vadd.f32 s12, s12, %[z]\n\t"
			       "vadd.f32 s13, s13, %[z]\n\t"
			       "vadd.f32 s14, s14, %[z]\n\t"
			       "vadd.f32 s15, s15, %[z]\n\t"
			       "vstmia %[y]!, {s8-s15}\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [w] "+r"(w), [y] "+r"(y), [b] "+r"(blocks)
			       : [d] "t"(d), [z] "t"(zero)
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		y[j] = w[j] * d + zero;
	}
#else
	memset(y, 0, n * sizeof(float));
	odl_axpy(y, w, d, n);
#endif
}

/* w[j] -= s * a[j] for j in 0..n-1 (the SGD row update, s = lr * delta). */
static inline void odl_sgd_row(float *w, const float *a, float s, uint16_t n)
{
#ifdef ODL_KERNELS_VFP
	uint32_t blocks = n >> 3;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[a]!, {s0-s7}\n\t"
			       "vldmia %[w], {s8-s15}\n\t"
			       "vmls.f32 s8, s0, %[s]\n\t"
			       "vmls.f32 s9, s1, %[s]\n\t"
			       "vmls.f32 s10, s2, %[s]\n\t"
			       "vmls.f32 s11, s3, %[s]\n\t"
			       "vmls.f32 s12, s4, %[s]\n\t"
			       "vmls.f32 s13, s5, %[s]\n\t"
			       "vmls.f32 s14, s6, %[s]\n\t"
			       "vmls.f32 s15, s7, %[s]\n\t"
			       "vstmia %[w]!, {s8-s15}\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [a] "+r"(a), [w] "+r"(w), [b] "+r"(blocks)
			       : [s] "t"(s)
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		w[j] -= s * a[j];
	}
#else
	for (uint16_t j = 0; j < n; j++) {
#ifdef ODL_KERNELS_SOFTFP
		if (odl_is_zero(a[j])) {
			continue; /* w - s*(+-0) is w */
		}
#endif
		w[j] -= s * a[j];
	}
#endif
}

/* L2-SP's pull toward the anchor: w[j] -= c * (w[j] - w0[j]), the difference
 * rounded, then the product, then the subtraction (VSUB, then VMLS). */
static inline void odl_l2sp_row(float *w, const float *w0, float c, uint16_t n)
{
#ifdef ODL_KERNELS_VFP
	uint32_t blocks = n >> 3;

	if (blocks != 0u) {
		__asm volatile("1:\n\t"
			       "vldmia %[w0]!, {s0-s7}\n\t"
			       "vldmia %[w], {s8-s15}\n\t"
			       "vsub.f32 s0, s8, s0\n\t"
			       "vsub.f32 s1, s9, s1\n\t"
			       "vsub.f32 s2, s10, s2\n\t"
			       "vsub.f32 s3, s11, s3\n\t"
			       "vsub.f32 s4, s12, s4\n\t"
			       "vsub.f32 s5, s13, s5\n\t"
			       "vsub.f32 s6, s14, s6\n\t"
			       "vsub.f32 s7, s15, s7\n\t"
			       "vmls.f32 s8, s0, %[c]\n\t"
			       "vmls.f32 s9, s1, %[c]\n\t"
			       "vmls.f32 s10, s2, %[c]\n\t"
			       "vmls.f32 s11, s3, %[c]\n\t"
			       "vmls.f32 s12, s4, %[c]\n\t"
			       "vmls.f32 s13, s5, %[c]\n\t"
			       "vmls.f32 s14, s6, %[c]\n\t"
			       "vmls.f32 s15, s7, %[c]\n\t"
			       "vstmia %[w]!, {s8-s15}\n\t"
			       "subs %[b], %[b], #1\n\t"
			       "bne 1b\n\t"
			       : [w0] "+r"(w0), [w] "+r"(w), [b] "+r"(blocks)
			       : [c] "t"(c)
			       : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
				 "s11", "s12", "s13", "s14", "s15", "cc", "memory");
	}
	for (uint16_t j = 0; j < (n & 7u); j++) {
		w[j] -= c * (w[j] - w0[j]);
	}
#else
	for (uint16_t j = 0; j < n; j++) {
		w[j] -= c * (w[j] - w0[j]);
	}
#endif
}

#endif /* ODL_KERNELS_H */
