/*
 * Instruction-count harness for the training step: trains on samples read
 * from a file so that callgrind can count odl_train_step() alone
 * (valgrind --tool=callgrind --toggle-collect=odl_train_step).
 *
 * usage: bench_step STRATEGY LR SAMPLES_FILE N_STEPS SIZE0 SIZE1 [SIZE2 [SIZE3 [SIZE4]]]
 * SAMPLES_FILE: records of SIZE0 little-endian float32 features then one
 * uint32 label; the records are cycled through until N_STEPS steps ran.
 */
#include <stdio.h>
#include <stdlib.h>

#include "odl/odl_train.h"

static unsigned char arena[1u << 20];

int main(int argc, char **argv)
{
	if (argc < 7 || argc > 10) {
		fprintf(stderr, "usage: %s STRATEGY LR SAMPLES_FILE N_STEPS SIZE0 SIZE1 [SIZE2..]\n", argv[0]);
		return 2;
	}
	odl_arch_t arch = {.n_layers = (uint8_t)(argc - 6)};
	for (int i = 5; i < argc; i++) {
		arch.sizes[i - 5] = (uint16_t)atoi(argv[i]);
	}
	odl_train_params_t params;
	odl_status_t st = odl_train_params_default(&params, (odl_strategy_t)atoi(argv[1]));

	params.learning_rate = strtof(argv[2], NULL);
	odl_model_t model;

	if (st == ODL_OK) {
		st = odl_model_init(&model, &arch, &params, arena, sizeof(arena));
	}
	if (st == ODL_OK) {
		st = odl_model_init_weights(&model, 7);
	}
	if (st != ODL_OK) {
		fprintf(stderr, "init: %s\n", odl_status_str(st));
		return 1;
	}
	FILE *f = fopen(argv[3], "rb");

	if (f == NULL) {
		perror(argv[3]);
		return 1;
	}
	const size_t n_in = arch.sizes[0];
	static float x[ODL_MAX_INPUTS];
	const long steps = atol(argv[4]);

	for (long s = 0; s < steps; s++) {
		uint32_t label;

		if (fread(x, sizeof(float), n_in, f) != n_in || fread(&label, 4, 1, f) != 1) {
			rewind(f);
			s--;
			continue;
		}
		st = odl_train_step(&model, x, n_in, (uint16_t)label, NULL);
		if (st != ODL_OK) {
			fprintf(stderr, "step %ld: %s\n", s, odl_status_str(st));
			return 1;
		}
	}
	fclose(f);
	printf("%ld steps\n", steps);
	return 0;
}
