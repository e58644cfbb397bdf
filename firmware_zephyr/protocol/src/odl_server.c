#include <math.h>
#include <string.h>

#include "odl/odl_train.h"
#include "odl/odl_uncertainty.h"
#include "odl_port.h"
#include "odl_server.h"

#define CONFIGURE_BYTES 48u
#define BATCH_HEADER_BYTES 8u
#define QUANT_BYTES 8u
#define PREDICTION_BYTES 14u
/* TRAIN reply: u16 count, trained, skipped, not_selected, f32 loss_sum, then
 * per sample a u8 outcome, then per sample a u32 step_cycles. */
#define TRAIN_HEAD_BYTES 12u
#define TRAIN_SAMPLE_BYTES 5u
#define METRICS_BYTES 208u
#define STR_MAX 64u

static uint32_t port_clock(void *ctx)
{
	(void)ctx;
	return odl_port_cycles();
}

static float get_f32(const uint8_t *p)
{
	uint32_t u = odl_get_u32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void put_f32(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	odl_put_u32(p, u);
}

void odl_server_init(odl_server_t *srv, uint8_t *arena, size_t arena_size,
		     const odl_server_info_t *info)
{
	memset(srv, 0, sizeof(*srv));
	srv->info = info;
	srv->arena = arena;
	srv->arena_size = arena_size;
	srv->overruns_seen = odl_port_rx_overruns();
	odl_cobs_decoder_init(&srv->dec, srv->rx, sizeof(srv->rx));
}

/* --- sending -------------------------------------------------------- */

static void send_raw(const uint8_t *raw, size_t len, uint8_t *wire, size_t wire_cap,
		     size_t *wire_len)
{
	const size_t n = odl_cobs_encode(raw, len, wire, wire_cap);

	odl_port_write(wire, n);
	if (wire_len != NULL) {
		*wire_len = n;
	}
}

/* Seal the body built in srv->reply and send it; it becomes the cached reply. */
static void send_reply(odl_server_t *srv, uint8_t cmd, uint8_t flags, uint16_t seq,
		       size_t body_len)
{
	const size_t len = odl_frame_seal(srv->reply, sizeof(srv->reply), cmd, flags, seq, body_len);

	send_raw(srv->reply, len, srv->cached, sizeof(srv->cached), &srv->cached_len);
	srv->have_cached = 1u;
}

static size_t error_body(uint8_t *b, int code, uint8_t cmd, int core_status, uint16_t expected,
			 uint16_t detail)
{
	b[0] = (uint8_t)code;
	b[1] = cmd;
	odl_put_u16(b + 2, (uint16_t)(int16_t)core_status);
	odl_put_u16(b + 4, expected);
	odl_put_u16(b + 6, detail);
	return 8u;
}

/* An error about a frame that was not executed: never cached. */
static void send_transport_error(odl_server_t *srv, int code, uint8_t cmd, uint16_t seq)
{
	uint8_t raw[ODL_PROTO_HEADER_BYTES + 8u + ODL_PROTO_CRC_BYTES];
	uint8_t wire[ODL_PROTO_MAX_WIRE(sizeof(raw))];
	const size_t body = error_body(raw + ODL_PROTO_HEADER_BYTES, code, cmd, 0, srv->expected_seq, 0);
	const size_t len = odl_frame_seal(raw, sizeof(raw), ODL_CMD_ERROR, 0u, seq, body);

	send_raw(raw, len, wire, sizeof(wire), NULL);
	srv->frames_bad++;
}

/* A command that ran and failed: the error is its reply, cached like any. */
static void reply_error(odl_server_t *srv, const odl_frame_t *f, int code, int core_status,
			uint16_t detail)
{
	const size_t body = error_body(srv->reply + ODL_PROTO_HEADER_BYTES, code, f->cmd, core_status,
				       (uint16_t)(srv->expected_seq), detail);

	send_reply(srv, ODL_CMD_ERROR, 0u, f->seq, body);
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0u;

	if (n > STR_MAX) {
		n = STR_MAX;
	}
	p[0] = (uint8_t)n;
	memcpy(p + 1, s, n);
	return n + 1u;
}

/* --- commands ------------------------------------------------------- */

static void cmd_hello(odl_server_t *srv, const odl_frame_t *f)
{
	uint8_t *b = srv->reply + ODL_PROTO_HEADER_BYTES;
	size_t n = 0;

	b[n++] = ODL_PROTO_VERSION;
	b[n++] = ODL_MAX_LAYERS;
	odl_put_u16(b + n, ODL_MAX_INPUTS);
	odl_put_u16(b + n + 2, ODL_MAX_NEURONS);
	odl_put_u16(b + n + 4, ODL_PROTO_MAX_BODY);
	n += 6;
	odl_put_u32(b + n, odl_port_rx_capacity());
	odl_put_u32(b + n + 4, odl_port_cycles_hz());
	odl_put_u32(b + n + 8, (uint32_t)srv->arena_size);
	odl_put_u32(b + n + 12, odl_port_stack_size());
	n += 16;
	b[n++] = (uint8_t)((1u << ODL_STRATEGY_COUNT) - 1u);
	b[n++] = (uint8_t)((1u << ODL_SCORE_COUNT) - 1u);
	n += put_str(b + n, srv->info->fw_version);
	n += put_str(b + n, srv->info->git_hash);
	n += put_str(b + n, odl_port_board_name());
	b[n] = (uint8_t)odl_port_device_id(b + n + 1, STR_MAX);
	n += 1u + b[n];
	send_reply(srv, ODL_CMD_HELLO | ODL_CMD_REPLY, 0u, f->seq, n);
}

static void cmd_configure(odl_server_t *srv, const odl_frame_t *f)
{
	const uint8_t *b = f->body;

	if (f->body_len != CONFIGURE_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_arch_t arch;

	memset(&arch, 0, sizeof(arch));
	arch.n_layers = b[0];
	for (unsigned l = 0; l <= ODL_MAX_LAYERS && l < 5u; l++) {
		arch.sizes[l] = odl_get_u16(b + 2 + 2u * l);
	}
	const odl_train_params_t params = {
		.strategy = b[1],
		.select_score = b[12],
		.learning_rate = get_f32(b + 16),
		.momentum = get_f32(b + 20),
		.tp_s_min = get_f32(b + 24),
		.tp_s_max = get_f32(b + 28),
		.tp_zeta = get_f32(b + 32),
		.gate_threshold = get_f32(b + 36),
		.select_threshold = get_f32(b + 40),
	};
	size_t needed = 0;
	odl_status_t st = odl_model_arena_bytes(&arch, &params, &needed);

	srv->configured = 0u;
	srv->loading = 0u;
	if (st == ODL_OK) {
		st = odl_model_init(&srv->model, &arch, &params, srv->arena, srv->arena_size);
	}
	if (st == ODL_OK && b[13] != 0u) {
		st = odl_model_init_weights(&srv->model, odl_get_u32(b + 44));
	}
	if (st != ODL_OK) {
		reply_error(srv, f, ODL_PERR_CORE, st, 0);
		return;
	}
	(void)odl_model_set_clock(&srv->model, port_clock, NULL);
	srv->configured = 1u;
	srv->arena_needed = needed;
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;

	odl_put_u32(r, (uint32_t)needed);
	odl_put_u32(r + 4, (uint32_t)srv->arena_size);
	send_reply(srv, ODL_CMD_CONFIGURE | ODL_CMD_REPLY, 0u, f->seq, 8u);
}

static void cmd_load_weights(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len < 8u) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	const uint32_t offset = odl_get_u32(f->body);
	const uint32_t total = odl_get_u32(f->body + 4);
	const uint8_t *chunk = f->body + 8;
	const size_t n = f->body_len - 8u;
	odl_status_t st;

	if (offset == 0u) {
		(void)odl_blob_load_begin(&srv->loader, &srv->model);
		srv->loading = 1u;
		srv->load_total = total;
	} else if (!srv->loading || offset != srv->loader.received || total != srv->load_total) {
		reply_error(srv, f, ODL_PERR_BAD_OFFSET, 0, 0);
		return;
	}
	st = odl_blob_load_feed(&srv->loader, chunk, n);
	if (st == ODL_OK && srv->loader.received >= srv->load_total) {
		srv->loading = 0u;
		st = odl_blob_load_end(&srv->loader);
	}
	if (st != ODL_OK) {
		srv->loading = 0u;
		reply_error(srv, f, ODL_PERR_CORE, st, 0);
		return;
	}
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;

	odl_put_u32(r, (uint32_t)srv->loader.received);
	r[4] = (uint8_t)(srv->loading ? 0u : 1u);
	send_reply(srv, ODL_CMD_LOAD_WEIGHTS | ODL_CMD_REPLY, 0u, f->seq, 5u);
}

static void cmd_read_weights(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len != 6u) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	const uint32_t offset = odl_get_u32(f->body);
	size_t want = odl_get_u16(f->body + 4);
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	size_t got = 0;

	if (want > ODL_PROTO_MAX_BODY - 8u) {
		want = ODL_PROTO_MAX_BODY - 8u;
	}
	odl_status_t st = odl_blob_chunk(&srv->model, offset, r + 8, want, &got);

	if (st != ODL_OK) {
		reply_error(srv, f, ODL_PERR_CORE, st, 0);
		return;
	}
	odl_put_u32(r, (uint32_t)odl_blob_size(&srv->model.arch));
	odl_put_u32(r + 4, offset);
	send_reply(srv, ODL_CMD_READ_WEIGHTS | ODL_CMD_REPLY, 0u, f->seq, 8u + got);
}

/* A checked view of a sample batch (docs/protocol.md, "Sample batches"). */
typedef struct batch {
	uint8_t encoding;
	uint8_t score_kind;
	uint16_t count;
	uint16_t n_features;
	float scale;
	int16_t zero_point;
	size_t record;
	const uint8_t *records;
} batch_t;

static int parse_batch(const odl_server_t *srv, const odl_frame_t *f, int labelled, batch_t *bt)
{
	const uint8_t *b = f->body;

	if (f->body_len < BATCH_HEADER_BYTES) {
		return ODL_PERR_BAD_LENGTH;
	}
	bt->encoding = b[0];
	bt->score_kind = b[1];
	bt->count = odl_get_u16(b + 2);
	bt->n_features = odl_get_u16(b + 4);
	size_t header = BATCH_HEADER_BYTES;

	if (bt->encoding == ODL_ENC_INT8) {
		if (f->body_len < BATCH_HEADER_BYTES + QUANT_BYTES) {
			return ODL_PERR_BAD_LENGTH;
		}
		bt->scale = get_f32(b + 8);
		bt->zero_point = (int16_t)odl_get_u16(b + 12);
		header += QUANT_BYTES;
		if (!isfinite(bt->scale)) {
			return ODL_PERR_BAD_BATCH;
		}
	} else if (bt->encoding != ODL_ENC_F32) {
		return ODL_PERR_BAD_BATCH;
	}
	if (bt->count == 0u || bt->n_features != srv->model.arch.sizes[0] ||
	    bt->score_kind >= ODL_SCORE_COUNT) {
		return ODL_PERR_BAD_BATCH;
	}
	bt->record = (labelled ? 1u : 0u) +
		     (size_t)bt->n_features * (bt->encoding == ODL_ENC_F32 ? 4u : 1u);
	if (f->body_len != header + bt->record * bt->count) {
		return ODL_PERR_BAD_LENGTH;
	}
	bt->records = b + header;
	return 0;
}

/* Features of sample i into srv->x; returns its label (0 if unlabelled). */
static uint8_t decode_sample(odl_server_t *srv, const batch_t *bt, size_t i, int labelled)
{
	const uint8_t *rec = bt->records + i * bt->record;
	const uint8_t *feat = rec + (labelled ? 1 : 0);

	for (uint16_t j = 0; j < bt->n_features; j++) {
		if (bt->encoding == ODL_ENC_F32) {
			srv->x[j] = get_f32(feat + 4u * j);
		} else {
			srv->x[j] = (float)((int)(int8_t)feat[j] - bt->zero_point) * bt->scale;
		}
	}
	return labelled ? rec[0] : 0u;
}

/* Every sample finite and every label in range, before anything runs. */
static int check_batch(odl_server_t *srv, const batch_t *bt, int labelled, uint16_t *bad_index,
		       odl_status_t *st)
{
	const uint16_t classes = srv->model.arch.sizes[srv->model.arch.n_layers];

	for (uint16_t i = 0; i < bt->count; i++) {
		const uint8_t label = decode_sample(srv, bt, i, labelled);

		for (uint16_t j = 0; j < bt->n_features; j++) {
			if (!isfinite(srv->x[j])) {
				*bad_index = i;
				*st = ODL_ERR_NONFINITE;
				return ODL_PERR_CORE;
			}
		}
		if (labelled && label >= classes) {
			*bad_index = i;
			*st = ODL_ERR_LABEL;
			return ODL_PERR_CORE;
		}
	}
	return 0;
}

static int begin_batch(odl_server_t *srv, const odl_frame_t *f, int labelled, batch_t *bt)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return -1;
	}
	int err = parse_batch(srv, f, labelled, bt);

	if (err != 0) {
		reply_error(srv, f, err, 0, 0);
		return -1;
	}
	uint16_t bad = 0;
	odl_status_t st = ODL_OK;

	err = check_batch(srv, bt, labelled, &bad, &st);
	if (err != 0) {
		reply_error(srv, f, err, st, bad);
		return -1;
	}
	return 0;
}

/*
 * TRAIN reply: head, count x u8 outcome, then count x u32 step_cycles. A
 * sample's step_cycles is cycles_forward + cycles_backward + cycles_update of
 * its step, the very values the core adds to the METRICS cycle statistics, so
 * the per-sample figures of all TRAIN replies since a metrics reset sum to
 * forward.sum + backward.sum + update.sum (INFER and EVALUATE add forward
 * passes of their own). A skipped or not selected sample carries only its
 * forward cycles (the gate and selection run untimed between the phases).
 */
static void cmd_train(odl_server_t *srv, const odl_frame_t *f)
{
	batch_t bt;

	if (begin_batch(srv, f, 1, &bt) != 0) {
		return;
	}
	/* The reply, not the request, bounds the batch when samples are small:
	 * refuse before training so a refused batch changes nothing. */
	if (TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * (size_t)bt.count > ODL_PROTO_MAX_BODY) {
		reply_error(srv, f, ODL_PERR_BAD_BATCH, 0, 0);
		return;
	}
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	uint8_t *outcomes = r + TRAIN_HEAD_BYTES;
	uint8_t *cycles = outcomes + bt.count;
	uint16_t outcome_count[3] = {0, 0, 0};
	float loss_sum = 0.0f;

	for (uint16_t i = 0; i < bt.count; i++) {
		const uint8_t label = decode_sample(srv, &bt, i, 1);
		odl_step_result_t res;
		odl_status_t st = odl_train_step(&srv->model, srv->x, bt.n_features, label, &res);

		if (st != ODL_OK) {
			/* only divergence can get here: inputs were checked */
			reply_error(srv, f, ODL_PERR_CORE, st, i);
			return;
		}
		loss_sum += res.loss;
		outcome_count[res.outcome]++;
		outcomes[i] = (uint8_t)res.outcome;
		/* modulo 2^32 like the counter: exact for any step under 2^32 cycles */
		odl_put_u32(cycles + 4u * i, res.cycles_forward + res.cycles_backward + res.cycles_update);
	}
	odl_put_u16(r, bt.count);
	odl_put_u16(r + 2, outcome_count[ODL_STEP_TRAINED]);
	odl_put_u16(r + 4, outcome_count[ODL_STEP_SKIPPED]);
	odl_put_u16(r + 6, outcome_count[ODL_STEP_NOT_SELECTED]);
	put_f32(r + 8, loss_sum);
	send_reply(srv, ODL_CMD_TRAIN | ODL_CMD_REPLY, 0u, f->seq,
		   TRAIN_HEAD_BYTES + TRAIN_SAMPLE_BYTES * (size_t)bt.count);
}

/* INFER (unlabelled) and EVALUATE (labelled): predictions for a batch. */
static void cmd_predict(odl_server_t *srv, const odl_frame_t *f, int labelled)
{
	batch_t bt;

	if (begin_batch(srv, f, labelled, &bt) != 0) {
		return;
	}
	const size_t head = labelled ? 8u : 2u;

	if (head + (size_t)bt.count * PREDICTION_BYTES > ODL_PROTO_MAX_BODY) {
		reply_error(srv, f, ODL_PERR_BAD_BATCH, 0, 0);
		return;
	}
	const uint16_t classes = srv->model.arch.sizes[srv->model.arch.n_layers];
	float probs[ODL_MAX_NEURONS];
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	uint16_t correct = 0;
	float loss_sum = 0.0f;

	for (uint16_t i = 0; i < bt.count; i++) {
		const uint8_t label = decode_sample(srv, &bt, i, labelled);
		uint16_t i1, i2;
		float p1, p2, score;
		odl_status_t st = odl_model_predict(&srv->model, srv->x, bt.n_features, probs, classes, NULL);

		if (st == ODL_OK) {
			st = odl_top2(probs, classes, &i1, &p1, &i2, &p2);
		}
		if (st == ODL_OK) {
			st = odl_uncertainty(probs, classes, bt.score_kind, &score);
		}
		if (st != ODL_OK) {
			reply_error(srv, f, ODL_PERR_CORE, st, i);
			return;
		}
		uint8_t *rec = r + head + (size_t)i * PREDICTION_BYTES;

		rec[0] = (uint8_t)i1;
		rec[1] = (uint8_t)i2;
		put_f32(rec + 2, p1);
		put_f32(rec + 6, p2);
		put_f32(rec + 10, score);
		if (labelled) {
			if (i1 == label) {
				correct++;
			}
			loss_sum += -logf(probs[label] > 1e-30f ? probs[label] : 1e-30f);
		}
	}
	odl_put_u16(r, bt.count);
	if (labelled) {
		odl_put_u16(r + 2, correct);
		put_f32(r + 4, loss_sum);
	}
	send_reply(srv, f->cmd | ODL_CMD_REPLY, 0u, f->seq, head + (size_t)bt.count * PREDICTION_BYTES);
}

static size_t put_cycle_stat(uint8_t *p, const odl_cycle_stat_t *s)
{
	odl_put_u32(p, s->count);
	odl_put_u32(p + 4, s->min);
	odl_put_u32(p + 8, s->max);
	odl_put_u64(p + 12, s->sum);
	return 20u;
}

static void cmd_metrics(odl_server_t *srv, const odl_frame_t *f)
{
	if (f->body_len != 1u) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_stats_t s;
	size_t peak = 0;
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	size_t n = 0;

	memset(&s, 0, sizeof(s));
	if (srv->configured) {
		(void)odl_model_get_stats(&srv->model, &s);
		(void)odl_model_arena_peak(&srv->model, &peak);
	}
	memset(r, 0, METRICS_BYTES);
	n += put_cycle_stat(r + n, &s.forward);
	n += put_cycle_stat(r + n, &s.backward);
	n += put_cycle_stat(r + n, &s.update);
	odl_put_u64(r + n, s.macs_forward);
	odl_put_u64(r + n + 8, s.macs_backward);
	odl_put_u64(r + n + 16, s.macs_backward_full);
	n += 24;
	odl_put_u32(r + n, s.seen);
	odl_put_u32(r + n + 4, s.selected);
	odl_put_u32(r + n + 8, s.trained);
	odl_put_u32(r + n + 12, s.skipped);
	n += 16;
	r[n] = srv->configured ? srv->model.arch.n_layers : 0u;
	r[n + 1] = srv->configured;
	n += 4;
	for (unsigned l = 0; l < 4u; l++) {
		if (l < ODL_MAX_LAYERS) {
			odl_put_u64(r + n, s.k_sum[l]);
			odl_put_u16(r + n + 8, s.k_min[l]);
			odl_put_u16(r + n + 10, s.k_max[l]);
		}
		n += 16;
	}
	const uint32_t tail[] = {
		(uint32_t)srv->arena_size, (uint32_t)srv->arena_needed, (uint32_t)peak,
		odl_port_stack_size(), odl_port_stack_high_water(), odl_port_rx_overruns(),
		srv->frames_ok, srv->frames_bad, srv->frames_duplicate, odl_port_cycles_hz(),
	};
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++, n += 4) {
		odl_put_u32(r + n, tail[i]);
	}
	if (f->body[0] != 0u && srv->configured) {
		(void)odl_model_reset_stats(&srv->model);
	}
	send_reply(srv, ODL_CMD_METRICS | ODL_CMD_REPLY, 0u, f->seq, n);
}

static void cmd_reset(odl_server_t *srv, const odl_frame_t *f)
{
	if (f->body_len != 1u) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	srv->configured = 0u;
	srv->loading = 0u;
	srv->arena_needed = 0u;
	memset(&srv->model, 0, sizeof(srv->model));
	srv->frames_ok = srv->frames_bad = srv->frames_duplicate = 0u;
	send_reply(srv, ODL_CMD_RESET | ODL_CMD_REPLY, 0u, f->seq, 0u);
	srv->reset_requested = f->body[0] != 0u;
}

static void execute(odl_server_t *srv, const odl_frame_t *f)
{
	switch (f->cmd) {
	case ODL_CMD_HELLO: cmd_hello(srv, f); break;
	case ODL_CMD_CONFIGURE: cmd_configure(srv, f); break;
	case ODL_CMD_LOAD_WEIGHTS: cmd_load_weights(srv, f); break;
	case ODL_CMD_READ_WEIGHTS: cmd_read_weights(srv, f); break;
	case ODL_CMD_TRAIN: cmd_train(srv, f); break;
	case ODL_CMD_INFER: cmd_predict(srv, f, 0); break;
	case ODL_CMD_EVALUATE: cmd_predict(srv, f, 1); break;
	case ODL_CMD_METRICS: cmd_metrics(srv, f); break;
	case ODL_CMD_RESET: cmd_reset(srv, f); break;
	default: reply_error(srv, f, ODL_PERR_UNKNOWN_COMMAND, 0, 0); break;
	}
}

/* --- sequencing ----------------------------------------------------- */

static void on_frame(odl_server_t *srv, size_t len)
{
	odl_frame_t f;
	const uint32_t overruns = odl_port_rx_overruns();
	const int lost = overruns != srv->overruns_seen;

	srv->overruns_seen = overruns;
	int err = odl_frame_parse(srv->rx, len, &f);

	if (err != 0) {
		send_transport_error(srv, lost ? ODL_PERR_RX_OVERRUN : err, 0u, srv->expected_seq);
		return;
	}
	if (f.cmd == ODL_CMD_HELLO) {
		/* HELLO opens a session: whatever seq it carries is now current */
		srv->expected_seq = f.seq;
	}
	const uint16_t behind = (uint16_t)(srv->expected_seq - f.seq);

	if (f.seq == srv->expected_seq) {
		srv->expected_seq++;
		srv->frames_ok++;
		execute(srv, &f);
	} else if (behind == 1u && srv->have_cached) {
		srv->frames_duplicate++;
		odl_port_write(srv->cached, srv->cached_len);
	} else if (behind < 0x8000u) {
		uint8_t raw[ODL_PROTO_HEADER_BYTES + ODL_PROTO_CRC_BYTES];
		uint8_t wire[ODL_PROTO_MAX_WIRE(sizeof(raw))];
		const size_t n = odl_frame_seal(raw, sizeof(raw), f.cmd | ODL_CMD_REPLY, ODL_FLAG_STALE,
						f.seq, 0u);

		srv->frames_duplicate++;
		send_raw(raw, n, wire, sizeof(wire), NULL);
	} else {
		send_transport_error(srv, ODL_PERR_SEQ_GAP, f.cmd, f.seq);
	}
}

void odl_server_feed(odl_server_t *srv, const uint8_t *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (odl_cobs_decode_byte(&srv->dec, data[i])) {
		case ODL_COBS_FRAME:
			on_frame(srv, srv->dec.len);
			break;
		case ODL_COBS_TOO_LONG:
			send_transport_error(srv, ODL_PERR_FRAME_TOO_LONG, 0u, srv->expected_seq);
			break;
		case ODL_COBS_INVALID:
			srv->overruns_seen = odl_port_rx_overruns();
			send_transport_error(srv, ODL_PERR_BAD_FRAME, 0u, srv->expected_seq);
			break;
		case ODL_COBS_NONE:
			break;
		}
	}
}

void odl_server_run(odl_server_t *srv)
{
	uint8_t buf[256];

	while (!srv->reset_requested) {
		const size_t n = odl_port_read(buf, sizeof(buf));

		if (n > 0u) {
			odl_server_feed(srv, buf, n);
		} else {
			odl_port_wait();
		}
	}
}
