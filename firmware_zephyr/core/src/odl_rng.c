#include "odl/odl_rng.h"

uint32_t odl_rng_seed(uint32_t seed)
{
	uint32_t s = seed * 0x9E3779B9u + 0x7F4A7C15u;

	/* xorshift has a fixed point at zero */
	return s != 0u ? s : 1u;
}

uint32_t odl_rng_next(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

float odl_rng_uniform(uint32_t *state)
{
	return (float)(odl_rng_next(state) >> 8) * (1.0f / 16777216.0f);
}
