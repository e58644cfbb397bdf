/*
 * Unit tests of the training core's contracts, built with AddressSanitizer
 * and UBSan (make host-test): every status code, arena bounds, blob refusal,
 * and the strategies' invariants. Numerical agreement with the numpy twin is
 * tested from Python (tests/core/test_golden.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odl/odl_blob.h"
#include "odl/odl_crc32.h"
#include "odl/odl_rng.h"
#include "odl/odl_train.h"
#include "odl/odl_uncertainty.h"
#include "odl_exp.h" /* core-internal: the softmax's exp */
#include "odl_strategy.h" /* core-internal: the strategies' own arena sizing */

static int passed, failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			passed++;                                                          \
		} else {                                                                   \
			failed++;                                                          \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
		}                                                                          \
	} while (0)

#define CHECK_ST(expr, want) CHECK((expr) == (want))

static const odl_arch_t arch_small = {.n_layers = 2, .sizes = {8, 6, 3}};

/* Guard bytes around an arena catch any write outside it even without ASan. */
#define GUARD 64
static uint8_t arena_mem[GUARD + 65536 + GUARD];

static uint8_t *arena_of(size_t size)
{
	memset(arena_mem, 0xA5, sizeof(arena_mem));
	(void)size;
	return arena_mem + GUARD;
}

static int guards_intact(size_t size)
{
	for (size_t i = 0; i < GUARD; i++) {
		if (arena_mem[i] != 0xA5 || arena_mem[GUARD + size + i] != 0xA5) {
			return 0;
		}
	}
	return 1;
}

static void sample(float *x, size_t n, uint32_t seed)
{
	uint32_t s = odl_rng_seed(seed);

	for (size_t i = 0; i < n; i++) {
		x[i] = odl_rng_uniform(&s);
	}
}

static void test_crc32(void)
{
	/* the standard check value of CRC-32/ISO-HDLC */
	CHECK(odl_crc32("123456789", 9, 0) == 0xCBF43926u);
	CHECK(odl_crc32("", 0, 0) == 0u);
	CHECK(odl_crc32("6789", 4, odl_crc32("12345", 5, 0)) == 0xCBF43926u);
}

static void test_rng(void)
{
	uint32_t s = odl_rng_seed(0);

	CHECK(s != 0u);
	uint32_t a = odl_rng_seed(1), b = odl_rng_seed(2);

	CHECK(a != b);
	for (int i = 0; i < 1000; i++) {
		float u = odl_rng_uniform(&a);

		CHECK(u >= 0.0f && u < 1.0f);
	}
}

static void test_arch_checks(void)
{
	size_t bytes;
	odl_arch_t a = arch_small;

	CHECK_ST(odl_arch_check(NULL), ODL_ERR_NULL);
	CHECK_ST(odl_arch_check(&a), ODL_OK);
	a.n_layers = 0;
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	a = arch_small;
	a.n_layers = ODL_MAX_LAYERS + 1;
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	a = arch_small;
	a.sizes[0] = ODL_MAX_INPUTS + 1;
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	a = arch_small;
	a.sizes[1] = ODL_MAX_NEURONS + 1;
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	a = arch_small;
	a.sizes[2] = 1; /* one class */
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	a = arch_small;
	a.sizes[3] = 5; /* garbage past n_layers */
	CHECK_ST(odl_arch_check(&a), ODL_ERR_ARCH);
	CHECK_ST(odl_model_arena_bytes(&a, NULL, &bytes), ODL_ERR_ARCH);
	CHECK_ST(odl_model_arena_bytes(&arch_small, NULL, NULL), ODL_ERR_NULL);
	CHECK(odl_arch_param_count(&arch_small) == 6u * 9u + 3u * 7u);
	CHECK(odl_arch_param_count(&a) == 0u);
}

static void test_params_checks(void)
{
	odl_train_params_t p;
	odl_model_t m;
	size_t bytes;

	CHECK_ST(odl_train_params_default(NULL, ODL_STRATEGY_FULL), ODL_ERR_NULL);
	CHECK_ST(odl_train_params_default(&p, ODL_STRATEGY_COUNT), ODL_ERR_STRATEGY);
	CHECK_ST(odl_train_params_default(&p, ODL_STRATEGY_TINYPROP), ODL_OK);
	CHECK(p.tp_s_min == 0.1f && p.tp_s_max == 0.9f && p.tp_zeta == 0.5f);
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &bytes), ODL_OK);

	odl_train_params_t q = p;
	q.strategy = 7;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_STRATEGY);
	q = p;
	q.select_score = ODL_SCORE_COUNT;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_STRATEGY);
	q = p;
	q.learning_rate = 0.0f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_PARAM);
	q = p;
	q.learning_rate = NAN;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_NONFINITE);
	q = p;
	q.momentum = 1.0f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_PARAM);
	q = p;
	q.tp_s_min = 0.95f; /* above s_max */
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_PARAM);
	q = p;
	q.tp_zeta = 0.0f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_PARAM);
	q = p;
	q.gate_threshold = 1.5f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_PARAM);
	q = p;
	q.select_threshold = INFINITY;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &q, &bytes), ODL_ERR_NONFINITE);
	CHECK_ST(odl_model_init(&m, &arch_small, &q, arena_of(0), 65536), ODL_ERR_NONFINITE);
}

static void test_arena_bounds(void)
{
	odl_train_params_t p;
	odl_model_t m;
	size_t inf_bytes, full_bytes, mom_bytes, last_bytes;

	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	CHECK_ST(odl_model_arena_bytes(&arch_small, NULL, &inf_bytes), ODL_OK);
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &full_bytes), ODL_OK);
	p.momentum = 0.9f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &mom_bytes), ODL_OK);
	(void)odl_train_params_default(&p, ODL_STRATEGY_LAST_LAYER);
	p.momentum = 0.9f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &last_bytes), ODL_OK);
	CHECK(inf_bytes >= odl_arch_param_count(&arch_small) * sizeof(float));
	CHECK(full_bytes > inf_bytes);
	/* momentum doubles the parameter memory; last-layer momentum less so */
	CHECK(mom_bytes >= full_bytes + odl_arch_param_count(&arch_small) * sizeof(float));
	CHECK(last_bytes < mom_bytes);

	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	p.momentum = 0.9f;
	CHECK_ST(odl_model_init(NULL, &arch_small, &p, arena_of(0), mom_bytes), ODL_ERR_NULL);
	CHECK_ST(odl_model_init(&m, &arch_small, &p, NULL, mom_bytes), ODL_ERR_NULL);
	CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(0), mom_bytes - 1), ODL_ERR_ARENA_TOO_SMALL);
	/* exactly the reported size works at every alignment and stays inside it */
	for (size_t shift = 0; shift < 8; shift++) {
		uint8_t *a = arena_of(0);

		CHECK_ST(odl_model_init(&m, &arch_small, &p, a + shift, mom_bytes - shift), shift == 0 ? ODL_OK : ODL_ERR_ARENA_TOO_SMALL);
		memset(arena_mem, 0xA5, sizeof(arena_mem));
		CHECK_ST(odl_model_init(&m, &arch_small, &p, a + shift, mom_bytes), ODL_OK);
		CHECK_ST(odl_model_init_weights(&m, 3), ODL_OK);
		float x[8];

		sample(x, 8, 11);
		for (int i = 0; i < 20; i++) {
			CHECK_ST(odl_train_step(&m, x, 8, (uint16_t)(i % 3), NULL), ODL_OK);
		}
		CHECK(m.arena.peak <= mom_bytes);
		CHECK(guards_intact(shift + mom_bytes));
	}
}

/*
 * Each strategy sizes its own buffers (ops->arena_bytes); the model's size
 * is the shared part plus the strategy's, and init carves exactly that: the
 * strategy's state starts where the sizing says and the peak is the total.
 */
static void test_strategy_arena_sizing(void)
{
	static const odl_arch_t archs[] = {
		{.n_layers = 2, .sizes = {8, 6, 3}},
		{.n_layers = 2, .sizes = {64, 32, 10}},
		{.n_layers = 3, .sizes = {784, 32, 16, 10}},
		{.n_layers = 4, .sizes = {5, 7, 9, 3, 2}},
		{.n_layers = 1, .sizes = {64, 10}},
	};
	static uint8_t big_arena[460000] __attribute__((aligned(8)));

	CHECK(odl_strategy_get(ODL_STRATEGY_COUNT) == NULL);
	CHECK(odl_strategy_get(ODL_STRATEGY_FULL) == &odl_strategy_full_ops);
	CHECK(odl_strategy_get(ODL_STRATEGY_LAST_LAYER) == &odl_strategy_last_layer_ops);
	CHECK(odl_strategy_get(ODL_STRATEGY_LAST_LAYER_Q8) == &odl_strategy_last_layer_q8_ops);
	CHECK(odl_strategy_get(ODL_STRATEGY_TINYPROP) == &odl_strategy_tinyprop_ops);
	for (size_t ai = 0; ai < sizeof(archs) / sizeof(archs[0]); ai++) {
		const odl_arch_t *arch = &archs[ai];
		const unsigned top = arch->n_layers - 1u;
		const size_t n_params = odl_arch_param_count(arch);
		const size_t top_params = (size_t)arch->sizes[top + 1u] * (arch->sizes[top] + 1u);
		size_t rows_total = 0;

		for (unsigned l = 1; l <= arch->n_layers; l++) {
			rows_total += arch->sizes[l];
		}
		size_t own[ODL_STRATEGY_COUNT][2];

		for (uint32_t s = 0; s < ODL_STRATEGY_COUNT; s++) {
			for (int mom = 0; mom < 2; mom++) {
				odl_train_params_t p;
				odl_model_t m;
				size_t bytes;

				(void)odl_train_params_default(&p, (odl_strategy_t)s);
				p.momentum = mom ? 0.9f : 0.0f;
				const struct odl_strategy_ops *ops = odl_strategy_get(s);

				own[s][mom] = ops->arena_bytes(arch, &p);
				CHECK_ST(odl_model_arena_bytes(arch, &p, &bytes), ODL_OK);
				CHECK(bytes <= sizeof(big_arena));
				memset(big_arena, 0xA5, sizeof(big_arena));
				CHECK_ST(odl_model_init(&m, arch, &p, big_arena, bytes), ODL_OK);
				CHECK(m.ops == ops);
				CHECK(m.arena.peak == bytes - (ODL_ALIGN - 1u));
				CHECK((size_t)((uint8_t *)m.strategy_state - m.arena.base) ==
				      m.arena.peak - own[s][mom]);
				CHECK(big_arena[m.arena.peak] == 0xA5); /* nothing past the peak */
				CHECK_ST(odl_model_init(&m, arch, &p, big_arena, bytes - 1u),
					 ODL_ERR_ARENA_TOO_SMALL);
			}
			/* momentum adds one velocity per trainable parameter, no more */
			const size_t vel = own[s][1] - own[s][0];
			const size_t trainable =
				s == ODL_STRATEGY_LAST_LAYER || s == ODL_STRATEGY_LAST_LAYER_Q8 ? top_params
												 : n_params;

			CHECK(vel >= trainable * sizeof(float));
			CHECK(vel <= trainable * sizeof(float) + 2u * arch->n_layers * ODL_ALIGN);
		}
		/* TinyProp keeps row indices for every layer, the dense strategies one
		 * identity row list as wide as their widest trainable layer */
		CHECK(own[ODL_STRATEGY_TINYPROP][0] >= rows_total * sizeof(uint16_t));
		CHECK(own[ODL_STRATEGY_LAST_LAYER][0] <= own[ODL_STRATEGY_FULL][0]);
		/* last_layer_q8 adds an int8 copy of the hidden weights and 12 bytes
		 * a hidden row, so at least a byte per hidden parameter */
		CHECK(own[ODL_STRATEGY_LAST_LAYER_Q8][0] >=
		      own[ODL_STRATEGY_LAST_LAYER][0] + (n_params - top_params));
		CHECK(own[ODL_STRATEGY_FULL][0] < own[ODL_STRATEGY_TINYPROP][0] ||
		      arch->n_layers == 1u);
		CHECK(own[ODL_STRATEGY_LAST_LAYER][1] < own[ODL_STRATEGY_FULL][1] ||
		      arch->n_layers == 1u);
	}
}

static void init_model(odl_model_t *m, odl_strategy_t s, size_t *bytes_out)
{
	odl_train_params_t p;
	size_t bytes;

	(void)odl_train_params_default(&p, s);
	p.learning_rate = 0.1f;
	(void)odl_model_arena_bytes(&arch_small, &p, &bytes);
	CHECK_ST(odl_model_init(m, &arch_small, &p, arena_of(0), bytes), ODL_OK);
	CHECK_ST(odl_model_init_weights(m, 42), ODL_OK);
	if (bytes_out != NULL) {
		*bytes_out = bytes;
	}
}

static void test_predict_and_step_checks(void)
{
	odl_model_t m, inf;
	float x[8], probs[3];
	uint16_t pred;
	size_t bytes;
	odl_step_result_t r;

	init_model(&m, ODL_STRATEGY_FULL, NULL);
	sample(x, 8, 1);
	CHECK_ST(odl_model_predict(NULL, x, 8, probs, 3, &pred), ODL_ERR_NULL);
	CHECK_ST(odl_model_predict(&m, NULL, 8, probs, 3, &pred), ODL_ERR_NULL);
	CHECK_ST(odl_model_predict(&m, x, 7, probs, 3, &pred), ODL_ERR_LENGTH);
	CHECK_ST(odl_model_predict(&m, x, 8, probs, 2, &pred), ODL_ERR_LENGTH);
	CHECK_ST(odl_model_predict(&m, x, 8, probs, 3, &pred), ODL_OK);
	CHECK(fabsf(probs[0] + probs[1] + probs[2] - 1.0f) < 1e-6f);
	CHECK(pred < 3);
	CHECK_ST(odl_model_predict(&m, x, 8, NULL, 0, NULL), ODL_OK);

	CHECK_ST(odl_train_step(NULL, x, 8, 0, &r), ODL_ERR_NULL);
	CHECK_ST(odl_train_step(&m, NULL, 8, 0, &r), ODL_ERR_NULL);
	CHECK_ST(odl_train_step(&m, x, 9, 0, &r), ODL_ERR_LENGTH);
	CHECK_ST(odl_train_step(&m, x, 8, 3, &r), ODL_ERR_LABEL);
	x[4] = NAN;
	CHECK_ST(odl_train_step(&m, x, 8, 0, &r), ODL_ERR_NONFINITE);
	CHECK_ST(odl_model_predict(&m, x, 8, probs, 3, &pred), ODL_ERR_NONFINITE);
	x[4] = -INFINITY;
	CHECK_ST(odl_train_step(&m, x, 8, 0, &r), ODL_ERR_NONFINITE);
	CHECK(m.stats.seen == 0u); /* refused samples are not counted */

	/* an inference-only model refuses to train */
	(void)odl_model_arena_bytes(&arch_small, NULL, &bytes);
	static uint8_t inf_arena[4096];
	CHECK_ST(odl_model_init(&inf, &arch_small, NULL, inf_arena, bytes), ODL_OK);
	sample(x, 8, 1);
	CHECK_ST(odl_train_step(&inf, x, 8, 0, &r), ODL_ERR_STATE);
	CHECK_ST(odl_model_predict(&inf, x, 8, probs, 3, &pred), ODL_OK);

	/* huge weights overflow to Inf: reported, not propagated silently */
	for (size_t i = 0; i < 6u * 8u; i++) {
		m.layers[0].w[i] = 3e38f;
	}
	for (int i = 0; i < 8; i++) {
		x[i] = 10.0f;
	}
	CHECK_ST(odl_model_predict(&m, x, 8, probs, 3, &pred), ODL_ERR_DIVERGED);
	CHECK_ST(odl_train_step(&m, x, 8, 0, &r), ODL_ERR_DIVERGED);

	CHECK_ST(odl_model_selected(&m, 5, &(const uint16_t *){0}, &(uint16_t){0}), ODL_ERR_ARCH);
	CHECK_ST(odl_model_selected(&m, 0, NULL, &(uint16_t){0}), ODL_ERR_NULL);
	CHECK_ST(odl_model_set_clock(NULL, NULL, NULL), ODL_ERR_NULL);
	CHECK_ST(odl_model_reset_stats(NULL), ODL_ERR_NULL);
	CHECK_ST(odl_model_init_weights(NULL, 1), ODL_ERR_NULL);
}

static uint32_t fake_cycles;
static uint32_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_cycles += 7u; /* each reading advances: every phase sees > 0 */
}

static void test_strategies(void)
{
	odl_model_t m;
	odl_step_result_t r;
	float x[8], before[6 * 8];

	/* last_layer: hidden weights never move */
	init_model(&m, ODL_STRATEGY_LAST_LAYER, NULL);
	memcpy(before, m.layers[0].w, sizeof(before));
	for (int i = 0; i < 30; i++) {
		sample(x, 8, (uint32_t)i);
		CHECK_ST(odl_train_step(&m, x, 8, (uint16_t)(i % 3), &r), ODL_OK);
		CHECK(r.k[0] == 0 && r.k[1] == 3);
	}
	CHECK(memcmp(before, m.layers[0].w, sizeof(before)) == 0);
	CHECK(m.stats.trained == 30u);

	/* tinyprop: k within bounds, cheaper than full, selected rows distinct */
	init_model(&m, ODL_STRATEGY_TINYPROP, NULL);
	CHECK_ST(odl_model_set_clock(&m, fake_clock, NULL), ODL_OK);
	for (int i = 0; i < 50; i++) {
		sample(x, 8, (uint32_t)i + 100u);
		CHECK_ST(odl_train_step(&m, x, 8, (uint16_t)(i % 3), &r), ODL_OK);
		CHECK(r.k[0] >= 1 && r.k[0] <= 6 && r.k[1] >= 1 && r.k[1] <= 3);
		CHECK(r.macs_backward <= r.macs_backward_full);
		CHECK(r.cycles_forward > 0u && r.cycles_backward > 0u && r.cycles_update > 0u);
		const uint16_t *rows;
		uint16_t k;

		CHECK_ST(odl_model_selected(&m, 0, &rows, &k), ODL_OK);
		CHECK(k == r.k[0]);
		for (uint16_t a = 0; a < k; a++) {
			CHECK(rows[a] < 6);
			for (uint16_t b = 0; b < a; b++) {
				CHECK(rows[a] != rows[b]);
			}
		}
	}
	/* the first sample sets Y_max = Y, so the output layer gets S_max */
	CHECK(m.stats.k_max[1] == 2); /* trunc(3 * 0.9) */
	CHECK(m.stats.macs_backward < m.stats.macs_backward_full);
	CHECK(m.stats.backward.count == 50u && m.stats.backward.min > 0u);

	/* skip gate at 1.0 skips everything, at 0 nothing */
	odl_train_params_t p;
	size_t bytes;

	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	p.gate_threshold = 1.0f;
	(void)odl_model_arena_bytes(&arch_small, &p, &bytes);
	CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(0), bytes), ODL_OK);
	CHECK_ST(odl_model_init_weights(&m, 1), ODL_OK);
	memcpy(before, m.layers[0].w, sizeof(before));
	for (int i = 0; i < 10; i++) {
		sample(x, 8, (uint32_t)i);
		CHECK_ST(odl_train_step(&m, x, 8, 1, &r), ODL_OK);
		CHECK(r.outcome == ODL_STEP_SKIPPED && r.macs_backward == 0u);
	}
	CHECK(m.stats.skipped == 10u && m.stats.trained == 0u && m.stats.seen == 10u);
	CHECK(memcmp(before, m.layers[0].w, sizeof(before)) == 0);

	/* selection by margin with threshold 0: only exact ties would be selected */
	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	p.select_score = ODL_SCORE_MARGIN;
	p.select_threshold = 0.0f;
	CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(0), bytes), ODL_OK);
	CHECK_ST(odl_model_init_weights(&m, 1), ODL_OK);
	for (int i = 0; i < 10; i++) {
		sample(x, 8, (uint32_t)i);
		CHECK_ST(odl_train_step(&m, x, 8, 1, &r), ODL_OK);
		CHECK(r.outcome == ODL_STEP_NOT_SELECTED && r.score > 0.0f);
	}
	CHECK(m.stats.selected == 0u && m.stats.seen == 10u);
}

static void test_uncertainty(void)
{
	const float p[4] = {0.1f, 0.6f, 0.2f, 0.1f};
	const float flat[4] = {0.25f, 0.25f, 0.25f, 0.25f};
	uint16_t i1, i2;
	float p1, p2, s;

	CHECK_ST(odl_top2(p, 4, &i1, &p1, &i2, &p2), ODL_OK);
	CHECK(i1 == 1 && i2 == 2 && p1 == 0.6f && p2 == 0.2f);
	CHECK_ST(odl_top2(flat, 4, &i1, NULL, &i2, NULL), ODL_OK);
	CHECK(i1 == 0 && i2 == 1); /* ties go to the lower index */
	CHECK_ST(odl_top2(NULL, 4, &i1, NULL, NULL, NULL), ODL_ERR_NULL);
	CHECK_ST(odl_top2(p, 1, &i1, NULL, NULL, NULL), ODL_ERR_LENGTH);
	CHECK_ST(odl_uncertainty(p, 4, ODL_SCORE_LEAST_CONFIDENCE, &s), ODL_OK);
	CHECK(fabsf(s - 0.4f) < 1e-6f);
	CHECK_ST(odl_uncertainty(p, 4, ODL_SCORE_MARGIN, &s), ODL_OK);
	CHECK(fabsf(s - 0.4f) < 1e-6f);
	CHECK_ST(odl_uncertainty(p, 4, ODL_SCORE_RATIO, &s), ODL_OK);
	CHECK(fabsf(s - 1.0f / 3.0f) < 1e-6f);
	CHECK_ST(odl_uncertainty(flat, 4, ODL_SCORE_ENTROPY, &s), ODL_OK);
	CHECK(fabsf(s - 1.0f) < 1e-6f);
	CHECK_ST(odl_uncertainty(p, 4, 99, &s), ODL_ERR_STRATEGY);
	CHECK_ST(odl_uncertainty(p, 4, ODL_SCORE_ENTROPY, NULL), ODL_ERR_NULL);
	CHECK(odl_uncertainty_selects(ODL_SCORE_MARGIN, 0.1f, 0.2f));
	CHECK(!odl_uncertainty_selects(ODL_SCORE_MARGIN, 0.3f, 0.2f));
	CHECK(odl_uncertainty_selects(ODL_SCORE_ENTROPY, 0.3f, 0.2f));
	CHECK(odl_uncertainty_selects(ODL_SCORE_NONE, 0.0f, 1.0f));
	/* pseudo labels: each score's certain side, the bound included */
	CHECK(odl_uncertainty_confident(ODL_SCORE_MARGIN, 0.3f, 0.2f));
	CHECK(odl_uncertainty_confident(ODL_SCORE_MARGIN, 0.2f, 0.2f));
	CHECK(!odl_uncertainty_confident(ODL_SCORE_MARGIN, 0.1f, 0.2f));
	for (uint32_t k = ODL_SCORE_LEAST_CONFIDENCE; k < ODL_SCORE_COUNT; k++) {
		if (k == ODL_SCORE_MARGIN) {
			continue;
		}
		CHECK(odl_uncertainty_confident(k, 0.1f, 0.2f));
		CHECK(odl_uncertainty_confident(k, 0.2f, 0.2f));
		CHECK(!odl_uncertainty_confident(k, 0.3f, 0.2f));
	}
	CHECK(odl_uncertainty_confident(ODL_SCORE_NONE, 1.0f, 0.0f));
}

/* Pseudo labels and L2-SP: parameter checks, the anchor's arena share, and
 * what an unlabelled step does (numbers against the twin: Python's golden tests). */
static void test_pseudo_and_l2sp(void)
{
	odl_train_params_t p;
	odl_model_t m;
	odl_step_result_t r;
	size_t plain, anchored;
	float x[8];
	const size_t n_params = odl_arch_param_count(&arch_small);

	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	CHECK(p.pseudo_score == ODL_SCORE_NONE && p.pseudo_threshold == 0.0f && p.l2sp_lambda == 0.0f);
	p.l2sp_lambda = 1.5f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_ERR_PARAM);
	p.l2sp_lambda = NAN;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_ERR_NONFINITE);
	p.l2sp_lambda = 0.0f;
	p.pseudo_threshold = -0.1f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_ERR_PARAM);
	p.pseudo_threshold = 0.5f;
	p.pseudo_score = ODL_SCORE_COUNT;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_ERR_STRATEGY);

	for (uint32_t s = 0; s < ODL_STRATEGY_COUNT; s++) {
		(void)odl_train_params_default(&p, (odl_strategy_t)s);
		CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_OK);
		p.l2sp_lambda = 0.1f;
		CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &anchored), ODL_OK);
		/* W0 of the trainable layers: all of them, or the output layer's */
		const int top_only = s == ODL_STRATEGY_LAST_LAYER || s == ODL_STRATEGY_LAST_LAYER_Q8;
		const size_t want = top_only ? 3u * 7u : n_params;

		CHECK(anchored - plain >= 4u * want && anchored - plain <= 4u * want + 7u);
		CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(anchored), anchored - 1u),
			 ODL_ERR_ARENA_TOO_SMALL);
		CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(anchored), anchored), ODL_OK);
		CHECK_ST(odl_model_init_weights(&m, 3u), ODL_OK);
		const unsigned lowest = top_only ? 1u : 0u;

		CHECK(m.layers[0].w0 == NULL || lowest == 0u);
		CHECK(memcmp(m.layers[lowest].w0, m.layers[lowest].w,
			     (size_t)m.layers[lowest].n_out * m.layers[lowest].n_in * sizeof(float)) == 0);
		CHECK(memcmp(m.layers[1].b0, m.layers[1].b, 3u * sizeof(float)) == 0);
		CHECK(guards_intact(anchored));
	}

	/* an unlabelled step: margin 1.0 is never reached, margin 0 always is */
	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	p.pseudo_score = ODL_SCORE_MARGIN;
	p.pseudo_threshold = 1.0f;
	CHECK_ST(odl_model_arena_bytes(&arch_small, &p, &plain), ODL_OK);
	CHECK_ST(odl_model_init(&m, &arch_small, &p, arena_of(plain), plain), ODL_OK);
	CHECK_ST(odl_model_init_weights(&m, 5u), ODL_OK);
	sample(x, 8, 9u);
	float before[128];

	memcpy(before, m.layers[0].w, n_params * sizeof(float));
	CHECK_ST(odl_train_step_unlabelled(&m, x, 8, &r), ODL_OK);
	CHECK(r.outcome == ODL_STEP_NOT_CONFIDENT && r.loss == 0.0f && r.k[0] == 0u);
	CHECK(memcmp(before, m.layers[0].w, n_params * sizeof(float)) == 0);
	CHECK(m.stats.seen == 1u && m.stats.selected == 0u && m.stats.trained == 0u);
	m.params.pseudo_threshold = 0.0f;
	uint16_t predicted;

	CHECK_ST(odl_model_predict(&m, x, 8, NULL, 0, &predicted), ODL_OK);
	CHECK_ST(odl_train_step_unlabelled(&m, x, 8, &r), ODL_OK);
	CHECK(r.outcome == ODL_STEP_TRAINED && r.predicted == predicted && r.loss > 0.0f);
	CHECK(memcmp(before, m.layers[0].w, n_params * sizeof(float)) != 0);
	CHECK_ST(odl_train_step_unlabelled(&m, x, 7, &r), ODL_ERR_LENGTH);
	CHECK_ST(odl_train_step_unlabelled(NULL, x, 8, &r), ODL_ERR_NULL);
	CHECK_ST(odl_train_step(&m, x, 8, 0xFFFFu, &r), ODL_ERR_LABEL);
	CHECK(guards_intact(plain));
}

static void test_blob(void)
{
	odl_model_t m, m2;
	static uint8_t blob[4096], arena2[4096];
	size_t bytes, n, total;
	odl_arch_t a;

	init_model(&m, ODL_STRATEGY_FULL, &bytes);
	const size_t size = odl_blob_size(&arch_small);

	CHECK(size == 24u + 4u * 75u + 4u);
	CHECK_ST(odl_blob_write(&m, blob, size - 1, &n), ODL_ERR_BUFFER_TOO_SMALL);
	CHECK_ST(odl_blob_write(&m, blob, sizeof(blob), &n), ODL_OK);
	CHECK(n == size);
	CHECK_ST(odl_blob_parse_header(blob, n, &a, &total), ODL_OK);
	CHECK(total == size && a.n_layers == 2 && a.sizes[2] == 3);

	/* chunked reading yields the same bytes */
	uint8_t copy[4096];
	for (size_t off = 0; off < size; off += 7) {
		size_t got;

		CHECK_ST(odl_blob_chunk(&m, off, copy + off, 7, &got), ODL_OK);
		CHECK(got == (size - off < 7 ? size - off : 7));
	}
	CHECK(memcmp(copy, blob, size) == 0);

	odl_train_params_t p;
	size_t b2;

	(void)odl_train_params_default(&p, ODL_STRATEGY_FULL);
	(void)odl_model_arena_bytes(&arch_small, &p, &b2);
	CHECK_ST(odl_model_init(&m2, &arch_small, &p, arena2, b2), ODL_OK);
	CHECK_ST(odl_blob_read(&m2, blob, size), ODL_OK);
	CHECK(memcmp(m2.layers[0].w, m.layers[0].w, odl_arch_param_count(&arch_small) * 4) == 0);

	/* every kind of damage is refused, and the weights stay as they were */
	const float w0 = m2.layers[0].w[0];
	uint8_t bad[4096];

	memcpy(bad, blob, size);
	bad[0] = 'X';
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_BLOB_MAGIC);
	memcpy(bad, blob, size);
	bad[4] = 2;
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_BLOB_VERSION);
	memcpy(bad, blob, size);
	bad[100] ^= 1;
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_BLOB_CRC);
	CHECK_ST(odl_blob_read(&m2, blob, size - 1), ODL_ERR_BLOB_SIZE);
	CHECK_ST(odl_blob_read(&m2, blob, size + 1), ODL_ERR_BLOB_SIZE);
	CHECK_ST(odl_blob_read(&m2, blob, 10), ODL_ERR_BLOB_SIZE);
	CHECK_ST(odl_blob_read(&m2, NULL, size), ODL_ERR_NULL);
	memcpy(bad, blob, size);
	bad[20] = 0xFF; /* count disagrees with the sizes */
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_BLOB_SIZE);
	memcpy(bad, blob, size);
	bad[6] = 9;
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_BLOB_ARCH);

	/* a valid blob of another architecture */
	const odl_arch_t other = {.n_layers = 2, .sizes = {8, 5, 3}};
	odl_model_t mo;
	static uint8_t arena3[4096], blob_other[4096];
	size_t b3, no;

	(void)odl_model_arena_bytes(&other, NULL, &b3);
	CHECK_ST(odl_model_init(&mo, &other, NULL, arena3, b3), ODL_OK);
	CHECK_ST(odl_model_init_weights(&mo, 5), ODL_OK);
	CHECK_ST(odl_blob_write(&mo, blob_other, sizeof(blob_other), &no), ODL_OK);
	CHECK_ST(odl_blob_read(&m2, blob_other, no), ODL_ERR_BLOB_ARCH);

	/* non-finite weights with a valid checksum */
	memcpy(bad, blob, size);
	const float nan = NAN;
	memcpy(bad + 24, &nan, 4);
	const uint32_t crc = odl_crc32(bad, size - 4, 0);
	for (int i = 0; i < 4; i++) {
		bad[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
	}
	CHECK_ST(odl_blob_read(&m2, bad, size), ODL_ERR_NONFINITE);
	CHECK(m2.layers[0].w[0] == w0);

	/* streamed: good blob in odd chunks */
	odl_blob_loader_t ld;
	CHECK_ST(odl_blob_load_begin(&ld, &m2), ODL_OK);
	for (size_t off = 0; off < size; off += 13) {
		CHECK_ST(odl_blob_load_feed(&ld, blob + off, size - off < 13 ? size - off : 13), ODL_OK);
	}
	CHECK_ST(odl_blob_load_end(&ld), ODL_OK);
	CHECK(m2.weights_ok == 1u);
	/* streamed: corrupted payload leaves the model refusing to run */
	memcpy(bad, blob, size);
	bad[200] ^= 0x10;
	CHECK_ST(odl_blob_load_begin(&ld, &m2), ODL_OK);
	CHECK_ST(odl_blob_load_feed(&ld, bad, size), ODL_OK);
	CHECK_ST(odl_blob_load_end(&ld), ODL_ERR_BLOB_CRC);
	float x[8];
	sample(x, 8, 3);
	CHECK_ST(odl_model_predict(&m2, x, 8, NULL, 0, NULL), ODL_ERR_STATE);
	CHECK_ST(odl_train_step(&m2, x, 8, 0, NULL), ODL_ERR_STATE);
	/* streamed: header of another architecture is refused before any weight changes */
	CHECK_ST(odl_blob_load_begin(&ld, &m2), ODL_OK);
	CHECK_ST(odl_blob_load_feed(&ld, blob_other, 30), ODL_ERR_BLOB_ARCH);
	CHECK_ST(odl_blob_load_feed(&ld, blob_other + 30, 4), ODL_ERR_BLOB_ARCH);
	CHECK_ST(odl_blob_load_end(&ld), ODL_ERR_BLOB_ARCH);
	/* streamed: too many bytes, too few bytes */
	CHECK_ST(odl_blob_load_begin(&ld, &m2), ODL_OK);
	CHECK_ST(odl_blob_load_feed(&ld, blob, size), ODL_OK);
	CHECK_ST(odl_blob_load_feed(&ld, blob, 1), ODL_ERR_BLOB_SIZE);
	CHECK_ST(odl_blob_load_begin(&ld, &m2), ODL_OK);
	CHECK_ST(odl_blob_load_feed(&ld, blob, size - 1), ODL_OK);
	CHECK_ST(odl_blob_load_end(&ld), ODL_ERR_BLOB_SIZE);
	CHECK_ST(odl_blob_load_end(&ld), ODL_ERR_STATE); /* already ended */
	CHECK_ST(odl_blob_load_feed(NULL, blob, 1), ODL_ERR_NULL);
	/* a good blob makes the model usable again */
	CHECK_ST(odl_blob_read(&m2, blob, size), ODL_OK);
	CHECK_ST(odl_model_predict(&m2, x, 8, NULL, 0, NULL), ODL_OK);
}

/* The softmax's exp against libm: within its documented bound (8.2e-8
 * relative, odl_exp.h), 0 below the cut-off, NaN kept. */
static void test_exp(void)
{
	double worst = 0.0;

	for (float x = 0.0f; x > ODL_EXP_X_MIN; x -= 0.00731f) {
		const double e = exp((double)x);
		const double rel = fabs((double)odl_exp(x) - e) / e;

		if (rel > worst) {
			worst = rel;
		}
	}
	CHECK(worst <= 8.2e-8);
	CHECK(odl_exp(0.0f) == 1.0f);
	CHECK(odl_exp(-88.0f) == 0.0f);
	CHECK(odl_exp(-INFINITY) == 0.0f);
	CHECK(isnan(odl_exp(NAN)));
}

static void test_status_names(void)
{
	CHECK(strcmp(odl_status_str(ODL_ERR_LABEL), "ODL_ERR_LABEL") == 0);
	CHECK(strcmp(odl_status_str((odl_status_t)-99), "ODL_ERR_UNKNOWN") == 0);
}

int main(void)
{
	test_crc32();
	test_rng();
	test_arch_checks();
	test_params_checks();
	test_arena_bounds();
	test_strategy_arena_sizing();
	test_predict_and_step_checks();
	test_strategies();
	test_uncertainty();
	test_pseudo_and_l2sp();
	test_blob();
	test_exp();
	test_status_names();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
