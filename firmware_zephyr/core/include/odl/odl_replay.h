/*
 * odl_replay.h - a replay memory in the caller's arena, interleaved with new
 * samples during training (continual learning; docs/core.md "Replay").
 *
 * The host loads M labelled samples once (float32, or int8 with
 * x = scale * (q - zero_point), decoded exactly like a TRAIN batch), in
 * chunks of whole records [u8 label][features]. Schedule: after every new
 * sample's training step, odl_replay_steps() runs `ratio` more steps on
 * memory samples in round-robin order: cursor, cursor + 1, ... modulo M.
 * The cursor starts at 0 when a load completes and carries across calls
 * (TRAIN batches) and growth. Replay steps are ordinary odl_train_step()
 * calls: the gate and data point selection apply to them too, and they count
 * in the statistics.
 *
 * A load starting at sample 0 drops the previous memory; the memory is used
 * only once all M samples have arrived. A refused chunk changes nothing.
 */
#ifndef ODL_REPLAY_H
#define ODL_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "odl_model.h"
#include "odl_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum odl_replay_encoding {
	ODL_REPLAY_F32 = 0,
	ODL_REPLAY_INT8 = 1,
} odl_replay_encoding_t;

/* What a load holds; every chunk of one load carries the same format. */
typedef struct odl_replay_format {
	uint16_t total;      /* M samples; 0 empties the memory */
	uint16_t n_features; /* == the model's inputs */
	uint8_t encoding;    /* odl_replay_encoding_t */
	uint8_t ratio;       /* replay steps after each new sample */
	int16_t zero_point;  /* int8 only */
	float scale;         /* int8 only: finite */
} odl_replay_format_t;

typedef struct odl_replay {
	uint8_t *mem;
	size_t capacity;         /* bytes of mem */
	odl_replay_format_t fmt; /* of the memory or of the load in progress */
	uint16_t received;       /* samples of the load so far */
	uint16_t count;          /* samples in use: M once the load completed, else 0 */
	uint16_t cursor;         /* next memory sample of the round robin */
} odl_replay_t;

/* Bytes of one record [u8 label][features]. */
size_t odl_replay_record_bytes(uint16_t n_features, uint8_t encoding);

/* An empty memory over capacity bytes at mem (mem may be NULL when capacity is 0). */
odl_status_t odl_replay_init(odl_replay_t *rp, void *mem, size_t capacity);

/*
 * Store samples first .. first + n - 1 of a load (records: n whole records).
 * first == 0 starts a new load; else first must be where the load stands and
 * fmt the load's. Refused, with nothing changed: ODL_ERR_ARENA_TOO_SMALL when
 * M records exceed the capacity, ODL_ERR_LENGTH for a wrong feature count or
 * samples past M, ODL_ERR_STATE out of order, ODL_ERR_PARAM for an unknown
 * encoding or non-finite scale, ODL_ERR_LABEL / ODL_ERR_NONFINITE for a
 * sample (its index in *bad_index) with a label outside the model's classes
 * or a non-finite feature.
 */
odl_status_t odl_replay_load(odl_replay_t *rp, const odl_model_t *model,
			     const odl_replay_format_t *fmt, uint16_t first,
			     const uint8_t *records, uint16_t n, uint16_t *bad_index);

/*
 * The replay steps owed after one new sample: ratio steps (none while the
 * memory is empty). x is scratch of n_features floats. *cycles (may be NULL)
 * receives the steps' forward + backward + update cycles.
 */
odl_status_t odl_replay_steps(odl_replay_t *rp, odl_model_t *model, float *x, uint32_t *cycles);

#ifdef __cplusplus
}
#endif

#endif /* ODL_REPLAY_H */
