/*
 * odl_rng.h - the core's pseudo-random stream, reproduced bit for bit by
 * the host's numpy twin (hil_service.reference.rng).
 *
 * xorshift32 (Marsaglia 2003, shifts 13/17/5) seeded through one
 * multiply-add so that nearby seeds give unrelated streams. Enough for weight
 * initialisation; not for cryptography.
 */
#ifndef ODL_RNG_H
#define ODL_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* State for seed: seed * 0x9E3779B9 + 0x7F4A7C15 (mod 2^32), 1 if that is 0. */
uint32_t odl_rng_seed(uint32_t seed);

/* Advance the state and return the next 32-bit value. */
uint32_t odl_rng_next(uint32_t *state);

/* Uniform float in [0, 1): the top 24 bits of the next value times 2^-24. */
float odl_rng_uniform(uint32_t *state);

#ifdef __cplusplus
}
#endif

#endif /* ODL_RNG_H */
