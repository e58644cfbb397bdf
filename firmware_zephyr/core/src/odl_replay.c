#include <string.h>

#include "odl/odl_replay.h"
#include "odl_internal.h"

size_t odl_replay_record_bytes(uint16_t n_features, uint8_t encoding)
{
	return 1u + (size_t)n_features * (encoding == ODL_REPLAY_F32 ? 4u : 1u);
}

odl_status_t odl_replay_init(odl_replay_t *rp, void *mem, size_t capacity)
{
	if (rp == NULL || (mem == NULL && capacity > 0u)) {
		return ODL_ERR_NULL;
	}
	memset(rp, 0, sizeof(*rp));
	rp->mem = mem;
	rp->capacity = capacity;
	return ODL_OK;
}

/* Features of a record into x, as the protocol decodes a TRAIN batch. */
static uint8_t decode(const odl_replay_format_t *f, const uint8_t *rec, float *x)
{
	const uint8_t *feat = rec + 1;

	for (uint16_t j = 0; j < f->n_features; j++) {
		if (f->encoding == ODL_REPLAY_F32) {
			memcpy(&x[j], feat + 4u * j, sizeof(float)); /* little-endian only (odl_internal.h) */
		} else {
			x[j] = (float)((int)(int8_t)feat[j] - f->zero_point) * f->scale;
		}
	}
	return rec[0];
}

static int same_format(const odl_replay_format_t *a, const odl_replay_format_t *b)
{
	return a->total == b->total && a->n_features == b->n_features &&
	       a->encoding == b->encoding && a->ratio == b->ratio &&
	       a->zero_point == b->zero_point && memcmp(&a->scale, &b->scale, sizeof(float)) == 0;
}

odl_status_t odl_replay_load(odl_replay_t *rp, const odl_model_t *model,
			     const odl_replay_format_t *fmt, uint16_t first,
			     const uint8_t *records, uint16_t n, uint16_t *bad_index)
{
	if (rp == NULL || model == NULL || fmt == NULL || (records == NULL && n > 0u)) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	if (fmt->encoding > ODL_REPLAY_INT8 ||
	    (fmt->encoding == ODL_REPLAY_INT8 && !odl_all_finite(&fmt->scale, 1u))) {
		return ODL_ERR_PARAM;
	}
	if (fmt->n_features != model->arch.sizes[0]) {
		return ODL_ERR_LENGTH;
	}
	const size_t record = odl_replay_record_bytes(fmt->n_features, fmt->encoding);

	if ((size_t)fmt->total * record > rp->capacity) {
		return ODL_ERR_ARENA_TOO_SMALL;
	}
	if (first != 0u && (first != rp->received || rp->count != 0u || !same_format(fmt, &rp->fmt))) {
		return ODL_ERR_STATE;
	}
	if ((uint32_t)first + n > fmt->total) {
		return ODL_ERR_LENGTH;
	}
	const uint16_t classes = model->arch.sizes[model->arch.n_layers];

	for (uint16_t i = 0; i < n; i++) {
		const uint8_t *rec = records + (size_t)i * record;
		odl_status_t bad = rec[0] >= classes ? ODL_ERR_LABEL : ODL_OK;

		for (uint16_t j = 0; j < fmt->n_features && bad == ODL_OK; j++) {
			float v;

			if (fmt->encoding == ODL_REPLAY_F32) {
				memcpy(&v, rec + 1u + 4u * j, sizeof(v));
			} else {
				v = (float)((int)(int8_t)rec[1u + j] - fmt->zero_point) * fmt->scale;
			}
			if (!odl_all_finite(&v, 1u)) {
				bad = ODL_ERR_NONFINITE;
			}
		}
		if (bad != ODL_OK) {
			if (bad_index != NULL) {
				*bad_index = (uint16_t)(first + i);
			}
			return bad;
		}
	}
	/* checked whole: apply */
	if (first == 0u) {
		rp->fmt = *fmt;
		rp->received = 0;
		rp->count = 0;
		rp->cursor = 0;
	}
	if (n > 0u) {
		memcpy(rp->mem + (size_t)first * record, records, (size_t)n * record);
	}
	rp->received = (uint16_t)(first + n);
	if (rp->received == rp->fmt.total) {
		rp->count = rp->fmt.total;
	}
	return ODL_OK;
}

odl_status_t odl_replay_steps(odl_replay_t *rp, odl_model_t *model, float *x, uint32_t *cycles)
{
	if (rp == NULL || model == NULL || x == NULL) {
		return ODL_ERR_NULL;
	}
	uint32_t total = 0;

	if (cycles != NULL) {
		*cycles = 0;
	}
	if (rp->count == 0u) {
		return ODL_OK;
	}
	const size_t record = odl_replay_record_bytes(rp->fmt.n_features, rp->fmt.encoding);

	for (uint8_t s = 0; s < rp->fmt.ratio; s++) {
		const uint8_t label = decode(&rp->fmt, rp->mem + (size_t)rp->cursor * record, x);
		odl_step_result_t r;
		const odl_status_t st = odl_train_step(model, x, rp->fmt.n_features, label, &r);

		if (st != ODL_OK) {
			return st;
		}
		rp->cursor = (uint16_t)((rp->cursor + 1u) % rp->count);
		total += r.cycles_forward + r.cycles_backward + r.cycles_update;
	}
	if (cycles != NULL) {
		*cycles = total;
	}
	return ODL_OK;
}
