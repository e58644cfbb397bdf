#include <math.h>
#include <string.h>

#include "odl/odl_grow.h"
#include "odl/odl_train.h"
#include "odl/odl_uncertainty.h"
#include "odl_port.h"
#include "odl_server.h"
#include "odl_wire_gen.h"

/* Body layouts come from protocol/wire.toml through odl_wire_gen.h. */
/* TRAIN reply after its head: per sample a u8 outcome, then per sample a u32 step_cycles. */
#define TRAIN_SAMPLE_BYTES 5u
#define TRAIN_OUTCOME_CORRECT 0x80u /* or-ed into a TRAIN reply's outcome byte */
#define STR_MAX 64u

static uint32_t port_clock(void *ctx)
{
	(void)ctx;
	return odl_port_cycles();
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
	const odl_wire_error_t e = {
		.code = (uint8_t)code,
		.cmd = cmd,
		.core_status = (int16_t)core_status,
		.expected_seq = expected,
		.detail = detail,
	};

	return odl_wire_error_put(b, &e);
}

/* An error about a frame that was not executed: never cached. */
static void send_transport_error(odl_server_t *srv, int code, uint8_t cmd, uint16_t seq)
{
	uint8_t raw[ODL_PROTO_HEADER_BYTES + ODL_WIRE_ERROR_BYTES + ODL_PROTO_CRC_BYTES];
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

/* The reply-body room HELLO needs at most: head, four length-prefixed
 * strings of up to STR_MAX bytes, last_seq and last_seq_valid. */
_Static_assert(ODL_WIRE_HELLO_REPLY_HEAD_BYTES + 4u * (1u + STR_MAX) + 5u <= ODL_PROTO_MAX_BODY,
	       "HELLO reply does not fit a body");

static void cmd_hello(odl_server_t *srv, const odl_frame_t *f)
{
	uint8_t *b = srv->reply + ODL_PROTO_HEADER_BYTES;
	const odl_wire_hello_reply_t head = {
		.protocol_version = ODL_PROTO_VERSION,
		.max_layers = ODL_MAX_LAYERS,
		.max_inputs = ODL_MAX_INPUTS,
		.max_neurons = ODL_MAX_NEURONS,
		.max_body = ODL_PROTO_MAX_BODY,
		.rx_capacity = odl_port_rx_capacity(),
		.cycles_hz = odl_port_cycles_hz(),
		.arena_size = (uint32_t)srv->arena_size,
		.stack_size = odl_port_stack_size(),
		.strategies_mask = (uint8_t)((1u << ODL_STRATEGY_COUNT) - 1u),
		.scores_mask = (uint8_t)((1u << ODL_SCORE_COUNT) - 1u),
	};
	size_t n = odl_wire_hello_reply_put(b, &head);

	n += put_str(b + n, srv->info->fw_version);
	n += put_str(b + n, srv->info->git_hash);
	n += put_str(b + n, odl_port_board_name());
	b[n] = (uint8_t)odl_port_device_id(b + n + 1, STR_MAX);
	n += 1u + b[n];
	/* the request executed before this HELLO: what a resend of it would get from the cache */
	odl_put_u16(b + n, srv->last_seq_valid ? srv->last_seq : 0u);
	b[n + 2] = srv->last_seq_valid;
	odl_put_u16(b + n + 3, (uint16_t)ODL_PROTO_FRAG_MAX);
	n += 5u;
	send_reply(srv, ODL_CMD_HELLO | ODL_CMD_REPLY, 0u, f->seq, n);
}

/*
 * CONFIGURE, plain or in its continual form (told apart by length): the
 * arena holds the model laid out for max_arch (the current arch when plain)
 * and, after it, replay_capacity bytes of replay memory.
 */
static void cmd_configure(odl_server_t *srv, const odl_frame_t *f)
{
	const int continual = f->body_len == ODL_WIRE_CONFIGURE_CONTINUAL_BYTES;

	if (f->body_len != ODL_WIRE_CONFIGURE_BYTES && !continual) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_configure_t m;
	odl_arch_t arch;
	odl_arch_t max_arch;
	odl_train_params_t params;
	uint16_t bad_param = ODL_WIRE_PARAM_NONE;
	uint32_t replay_capacity = 0;

	/* the continual form starts with the plain body */
	odl_wire_configure_get(f->body, &m);
	memset(&arch, 0, sizeof(arch));
	arch.n_layers = m.n_layers;
	for (unsigned l = 0; l <= ODL_MAX_LAYERS; l++) {
		arch.sizes[l] = m.sizes[l];
	}
	max_arch = arch;
	if (continual) {
		odl_wire_configure_continual_t c;

		odl_wire_configure_continual_get(f->body, &c);
		for (unsigned l = 0; l <= ODL_MAX_LAYERS; l++) {
			max_arch.sizes[l] = c.max_sizes[l];
		}
		replay_capacity = c.replay_capacity;
	}
	odl_wire_configure_params(&m, &params);
	size_t needed = 0;
	/* the architecture first, then the table's ranges, then the core's own checks */
	odl_status_t st = odl_arch_check(&arch);

	if (st == ODL_OK) {
		st = odl_arch_check(&max_arch);
	}
	if (st == ODL_OK) {
		st = odl_wire_check_train_params(&params, &bad_param);
	}
	if (st == ODL_OK) {
		st = odl_model_arena_bytes(&max_arch, &params, &needed);
	}
	/* the largest model must be a growth of the first (same depth by construction) */
	for (unsigned l = 0; st == ODL_OK && l <= arch.n_layers; l++) {
		if (max_arch.sizes[l] < arch.sizes[l] || (l == 0u && max_arch.sizes[0] != arch.sizes[0])) {
			st = ODL_ERR_GROW;
		}
	}
	const size_t model_bytes = needed;

	if (st == ODL_OK &&
	    (replay_capacity > srv->arena_size || model_bytes > srv->arena_size - replay_capacity)) {
		st = ODL_ERR_ARENA_TOO_SMALL;
	}
	srv->configured = 0u;
	srv->loading = 0u;
	(void)odl_replay_init(&srv->replay, NULL, 0u);
	if (st == ODL_OK) {
		st = odl_model_init(&srv->model, &arch, &params, srv->arena, model_bytes);
	}
	if (st == ODL_OK && m.init_weights != 0u) {
		st = odl_model_init_weights(&srv->model, m.seed);
	}
	if (st != ODL_OK) {
		/* detail names the refused parameter (1 + its place in wire.toml), 0 if none */
		reply_error(srv, f, ODL_PERR_CORE, st, bad_param);
		return;
	}
	(void)odl_replay_init(&srv->replay, replay_capacity > 0u ? srv->arena + model_bytes : NULL,
			      replay_capacity);
	(void)odl_model_set_clock(&srv->model, port_clock, NULL);
	srv->configured = 1u;
	srv->max_arch = max_arch;
	needed = model_bytes + replay_capacity;
	srv->arena_needed = needed;
	const odl_wire_configure_reply_t reply = {
		.arena_needed = (uint32_t)needed,
		.arena_size = (uint32_t)srv->arena_size,
	};

	send_reply(srv, ODL_CMD_CONFIGURE | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_configure_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &reply));
}

/* LOAD_REPLAY: a chunk of whole records; a refused chunk changes nothing. */
static void cmd_load_replay(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len < ODL_WIRE_LOAD_REPLAY_HEAD_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_load_replay_t req;

	odl_wire_load_replay_get(f->body, &req);
	const odl_replay_format_t fmt = {
		.total = req.total,
		.n_features = req.n_features,
		.encoding = req.encoding,
		.ratio = req.ratio,
		.zero_point = req.zero_point,
		.scale = req.scale,
	};
	const size_t record = odl_replay_record_bytes(req.n_features, req.encoding);
	const size_t n = f->body_len - ODL_WIRE_LOAD_REPLAY_HEAD_BYTES;

	if (n % record != 0u || n / record > 0xFFFFu) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	uint16_t bad = 0;
	const odl_status_t st = odl_replay_load(&srv->replay, &srv->model, &fmt, req.first,
						f->body + ODL_WIRE_LOAD_REPLAY_HEAD_BYTES,
						(uint16_t)(n / record), &bad);

	if (st == ODL_ERR_STATE) {
		reply_error(srv, f, ODL_PERR_BAD_OFFSET, st, 0);
		return;
	}
	if (st != ODL_OK) {
		reply_error(srv, f, ODL_PERR_CORE, st, bad);
		return;
	}
	const odl_wire_load_replay_reply_t reply = {
		.received = srv->replay.received,
		.complete = (uint8_t)(srv->replay.count == srv->replay.fmt.total ? 1u : 0u),
		.replay_bytes = (uint32_t)(srv->replay.received * record),
	};

	send_reply(srv, ODL_CMD_LOAD_REPLAY | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_load_replay_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &reply));
}

/* GROW: within the compile-time maxima (ODL_ERR_ARCH) and CONFIGURE's
 * max_sizes (ODL_ERR_GROW); a refusal changes nothing. */
static void cmd_grow(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len != ODL_WIRE_GROW_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_grow_t req;
	odl_arch_t to;

	odl_wire_grow_get(f->body, &req);
	memset(&to, 0, sizeof(to));
	to.n_layers = srv->model.arch.n_layers;
	for (unsigned l = 0; l <= ODL_MAX_LAYERS; l++) {
		to.sizes[l] = req.sizes[l];
	}
	odl_status_t st = odl_arch_check(&to);

	for (unsigned l = 0; st == ODL_OK && l <= ODL_MAX_LAYERS; l++) {
		if (to.sizes[l] > srv->max_arch.sizes[l]) {
			st = ODL_ERR_GROW;
		}
	}
	if (st == ODL_OK) {
		st = odl_model_grow(&srv->model, &to, req.seed);
	}
	if (st != ODL_OK) {
		reply_error(srv, f, ODL_PERR_CORE, st, 0);
		return;
	}
	srv->loading = 0u; /* a weight load in progress was for the old layout */
	size_t used = 0;

	(void)odl_model_arena_bytes(&to, &srv->model.params, &used);
	const odl_wire_grow_reply_t reply = {
		.n_params = (uint32_t)odl_arch_param_count(&to),
		.arena_used = (uint32_t)used,
	};

	send_reply(srv, ODL_CMD_GROW | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_grow_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &reply));
}

static void cmd_load_weights(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len < ODL_WIRE_LOAD_WEIGHTS_HEAD_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_load_weights_t req;

	odl_wire_load_weights_get(f->body, &req);
	const uint32_t offset = req.offset;
	const uint32_t total = req.total;
	const uint8_t *chunk = f->body + ODL_WIRE_LOAD_WEIGHTS_HEAD_BYTES;
	const size_t n = f->body_len - ODL_WIRE_LOAD_WEIGHTS_HEAD_BYTES;
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
	const odl_wire_load_weights_reply_t reply = {
		.received = (uint32_t)srv->loader.received,
		.complete = (uint8_t)(srv->loading ? 0u : 1u),
	};

	send_reply(srv, ODL_CMD_LOAD_WEIGHTS | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_load_weights_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &reply));
}

static void cmd_read_weights(odl_server_t *srv, const odl_frame_t *f)
{
	if (!srv->configured) {
		reply_error(srv, f, ODL_PERR_NOT_CONFIGURED, 0, 0);
		return;
	}
	if (f->body_len != ODL_WIRE_READ_WEIGHTS_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_read_weights_t req;

	odl_wire_read_weights_get(f->body, &req);
	const size_t head = ODL_WIRE_READ_WEIGHTS_REPLY_HEAD_BYTES;
	size_t want = req.max_len;
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	size_t got = 0;

	if (want > ODL_PROTO_MAX_BODY - head) {
		want = ODL_PROTO_MAX_BODY - head;
	}
	odl_status_t st = odl_blob_chunk(&srv->model, req.offset, r + head, want, &got);

	if (st != ODL_OK) {
		reply_error(srv, f, ODL_PERR_CORE, st, 0);
		return;
	}
	const odl_wire_read_weights_reply_t reply = {
		.total = (uint32_t)odl_blob_size(&srv->model.arch),
		.offset = req.offset,
	};

	send_reply(srv, ODL_CMD_READ_WEIGHTS | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_read_weights_reply_put(r, &reply) + got);
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
	odl_wire_batch_t head;

	if (f->body_len < ODL_WIRE_BATCH_HEAD_BYTES) {
		return ODL_PERR_BAD_LENGTH;
	}
	odl_wire_batch_get(b, &head);
	bt->encoding = head.encoding;
	bt->score_kind = head.score_kind;
	bt->count = head.count;
	bt->n_features = head.n_features;
	size_t header = ODL_WIRE_BATCH_HEAD_BYTES;

	if (bt->encoding == ODL_ENC_INT8) {
		odl_wire_batch_quant_t quant;

		if (f->body_len < ODL_WIRE_BATCH_QUANT_HEAD_BYTES) {
			return ODL_PERR_BAD_LENGTH;
		}
		odl_wire_batch_quant_get(b, &quant);
		bt->scale = quant.scale;
		bt->zero_point = quant.zero_point;
		header = ODL_WIRE_BATCH_QUANT_HEAD_BYTES;
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
			srv->x[j] = odl_get_f32(feat + 4u * j);
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
	if (ODL_WIRE_TRAIN_REPLY_HEAD_BYTES + TRAIN_SAMPLE_BYTES * (size_t)bt.count > ODL_PROTO_MAX_BODY) {
		reply_error(srv, f, ODL_PERR_BAD_BATCH, 0, 0);
		return;
	}
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	uint8_t *outcomes = r + ODL_WIRE_TRAIN_REPLY_HEAD_BYTES;
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
		/* the replay steps owed after this sample (odl_replay.h); their
		 * cycles count in the sample's step_cycles */
		uint32_t replay_cycles = 0;

		st = odl_replay_steps(&srv->replay, &srv->model, srv->x, &replay_cycles);
		if (st != ODL_OK) {
			reply_error(srv, f, ODL_PERR_CORE, st, i);
			return;
		}
		loss_sum += res.loss;
		outcome_count[res.outcome]++;
		/* bit 7: the forward pass before the update predicted the label
		 * (the host's running, test-then-train accuracy) */
		outcomes[i] = (uint8_t)(res.outcome | (res.predicted == label ? TRAIN_OUTCOME_CORRECT : 0u));
		/* modulo 2^32 like the counter: exact for any step under 2^32 cycles */
		odl_put_u32(cycles + 4u * i,
			    res.cycles_forward + res.cycles_backward + res.cycles_update + replay_cycles);
	}
	const odl_wire_train_reply_t head = {
		.count = bt.count,
		.trained = outcome_count[ODL_STEP_TRAINED],
		.skipped = outcome_count[ODL_STEP_SKIPPED],
		.not_selected = outcome_count[ODL_STEP_NOT_SELECTED],
		.loss_sum = loss_sum,
	};

	send_reply(srv, ODL_CMD_TRAIN | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_train_reply_put(r, &head) + TRAIN_SAMPLE_BYTES * (size_t)bt.count);
}

/* TRAIN_UNLABELLED reply after its head: per sample a u8 outcome, a u32
 * step_cycles, an i16 pseudo label (-1: not confident). */
#define PSEUDO_SAMPLE_BYTES 7u

/*
 * TRAIN_UNLABELLED (pseudo labels): an unlabelled batch, each sample one
 * odl_train_step_unlabelled() followed by its replay steps, as in TRAIN.
 * The reply tells the host, per sample, the pseudo label used or -1.
 */
static void cmd_train_unlabelled(odl_server_t *srv, const odl_frame_t *f)
{
	batch_t bt;

	if (begin_batch(srv, f, 0, &bt) != 0) {
		return;
	}
	if (ODL_WIRE_TRAIN_UNLABELLED_REPLY_HEAD_BYTES + PSEUDO_SAMPLE_BYTES * (size_t)bt.count >
	    ODL_PROTO_MAX_BODY) {
		reply_error(srv, f, ODL_PERR_BAD_BATCH, 0, 0);
		return;
	}
	uint8_t *r = srv->reply + ODL_PROTO_HEADER_BYTES;
	uint8_t *outcomes = r + ODL_WIRE_TRAIN_UNLABELLED_REPLY_HEAD_BYTES;
	uint8_t *cycles = outcomes + bt.count;
	uint8_t *labels = cycles + 4u * (size_t)bt.count;
	uint16_t outcome_count[4] = {0, 0, 0, 0};
	float loss_sum = 0.0f;

	for (uint16_t i = 0; i < bt.count; i++) {
		(void)decode_sample(srv, &bt, i, 0);
		odl_step_result_t res;
		odl_status_t st = odl_train_step_unlabelled(&srv->model, srv->x, bt.n_features, &res);
		uint32_t replay_cycles = 0;

		if (st == ODL_OK) {
			st = odl_replay_steps(&srv->replay, &srv->model, srv->x, &replay_cycles);
		}
		if (st != ODL_OK) {
			reply_error(srv, f, ODL_PERR_CORE, st, i);
			return;
		}
		const int confident = res.outcome != ODL_STEP_NOT_CONFIDENT;

		loss_sum += res.loss;
		outcome_count[res.outcome]++;
		outcomes[i] = (uint8_t)res.outcome;
		odl_put_u32(cycles + 4u * i,
			    res.cycles_forward + res.cycles_backward + res.cycles_update + replay_cycles);
		odl_put_u16(labels + 2u * i, (uint16_t)(confident ? res.predicted : 0xFFFFu));
	}
	const odl_wire_train_unlabelled_reply_t head = {
		.count = bt.count,
		.trained = outcome_count[ODL_STEP_TRAINED],
		.skipped = outcome_count[ODL_STEP_SKIPPED],
		.not_selected = outcome_count[ODL_STEP_NOT_SELECTED],
		.not_confident = outcome_count[ODL_STEP_NOT_CONFIDENT],
		.loss_sum = loss_sum,
	};

	send_reply(srv, ODL_CMD_TRAIN_UNLABELLED | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_train_unlabelled_reply_put(r, &head) +
			   PSEUDO_SAMPLE_BYTES * (size_t)bt.count);
}

/* INFER (unlabelled) and EVALUATE (labelled): predictions for a batch. */
static void cmd_predict(odl_server_t *srv, const odl_frame_t *f, int labelled)
{
	batch_t bt;

	if (begin_batch(srv, f, labelled, &bt) != 0) {
		return;
	}
	const size_t head = labelled ? ODL_WIRE_EVALUATE_REPLY_HEAD_BYTES : ODL_WIRE_INFER_REPLY_HEAD_BYTES;

	if (head + (size_t)bt.count * ODL_WIRE_PREDICTION_BYTES > ODL_PROTO_MAX_BODY) {
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
		const odl_wire_prediction_t pred = {
			.predicted = (uint8_t)i1,
			.second = (uint8_t)i2,
			.p1 = p1,
			.p2 = p2,
			.score = score,
		};

		(void)odl_wire_prediction_put(r + head + (size_t)i * ODL_WIRE_PREDICTION_BYTES, &pred);
		if (labelled) {
			if (i1 == label) {
				correct++;
			}
			loss_sum += -logf(probs[label] > 1e-30f ? probs[label] : 1e-30f);
		}
	}
	if (labelled) {
		const odl_wire_evaluate_reply_t e = {.count = bt.count, .correct = correct, .loss_sum = loss_sum};

		(void)odl_wire_evaluate_reply_put(r, &e);
	} else {
		const odl_wire_infer_reply_t i = {.count = bt.count};

		(void)odl_wire_infer_reply_put(r, &i);
	}
	send_reply(srv, f->cmd | ODL_CMD_REPLY, 0u, f->seq,
		   head + (size_t)bt.count * ODL_WIRE_PREDICTION_BYTES);
}

static odl_wire_cycle_stat_t cycle_stat(const odl_cycle_stat_t *s)
{
	return (odl_wire_cycle_stat_t){.count = s->count, .min = s->min, .max = s->max, .sum = s->sum};
}

static void cmd_metrics(odl_server_t *srv, const odl_frame_t *f)
{
	if (f->body_len != ODL_WIRE_METRICS_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_metrics_t req;
	odl_stats_t s;
	size_t peak = 0;

	odl_wire_metrics_get(f->body, &req);
	memset(&s, 0, sizeof(s));
	if (srv->configured) {
		(void)odl_model_get_stats(&srv->model, &s);
		(void)odl_model_arena_peak(&srv->model, &peak);
	}
	odl_wire_metrics_reply_t m;

	memset(&m, 0, sizeof(m));
	m.forward = cycle_stat(&s.forward);
	m.backward = cycle_stat(&s.backward);
	m.update = cycle_stat(&s.update);
	m.macs_forward = s.macs_forward;
	m.macs_backward = s.macs_backward;
	m.macs_backward_full = s.macs_backward_full;
	m.seen = s.seen;
	m.selected = s.selected;
	m.trained = s.trained;
	m.skipped = s.skipped;
	m.n_layers = srv->configured ? srv->model.arch.n_layers : 0u;
	m.configured = srv->configured;
	for (unsigned l = 0; l < ODL_MAX_LAYERS; l++) {
		m.layers[l].k_sum = s.k_sum[l];
		m.layers[l].k_min = s.k_min[l];
		m.layers[l].k_max = s.k_max[l];
	}
	m.arena_size = (uint32_t)srv->arena_size;
	m.arena_needed = (uint32_t)srv->arena_needed;
	m.arena_peak = (uint32_t)peak;
	m.stack_size = odl_port_stack_size();
	m.stack_high_water = odl_port_stack_high_water();
	m.rx_overruns = odl_port_rx_overruns();
	m.frames_ok = srv->frames_ok;
	m.frames_bad = srv->frames_bad;
	m.frames_duplicate = srv->frames_duplicate;
	m.cycles_hz = odl_port_cycles_hz();
	if (req.reset != 0u && srv->configured) {
		(void)odl_model_reset_stats(&srv->model);
	}
	send_reply(srv, ODL_CMD_METRICS | ODL_CMD_REPLY, 0u, f->seq,
		   odl_wire_metrics_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &m));
}

static void cmd_reset(odl_server_t *srv, const odl_frame_t *f)
{
	if (f->body_len != ODL_WIRE_RESET_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, 0);
		return;
	}
	odl_wire_reset_t req;

	odl_wire_reset_get(f->body, &req);
	srv->configured = 0u;
	srv->loading = 0u;
	srv->arena_needed = 0u;
	memset(&srv->model, 0, sizeof(srv->model));
	(void)odl_replay_init(&srv->replay, NULL, 0u);
	srv->frames_ok = srv->frames_bad = srv->frames_duplicate = 0u;
	send_reply(srv, ODL_CMD_RESET | ODL_CMD_REPLY, 0u, f->seq, ODL_WIRE_RESET_REPLY_BYTES);
	srv->reset_requested = req.hard != 0u;
}

/* --- fragments ------------------------------------------------------- */

_Static_assert(ODL_PROTO_FRAG_MAX <= 0xFFFFu && ODL_PROTO_FRAG_MAX <= ODL_PROTO_MAX_BODY,
	       "FRAGMENT total is a u16 within a body");
_Static_assert(ODL_WIRE_BATCH_QUANT_HEAD_BYTES <= 16u && ODL_WIRE_LOAD_REPLAY_HEAD_BYTES <= 16u,
	       "ODL_PROTO_FRAG_RECORD assumes a batch head of at most 16 bytes");

static void execute(odl_server_t *srv, const odl_frame_t *f);

static int fragmentable(uint8_t cmd)
{
	/* HELLO opens a session and would discard the reassembly it is in */
	return cmd != 0u && cmd != ODL_CMD_HELLO && cmd != ODL_CMD_FRAGMENT && cmd < ODL_CMD_REPLY;
}

/* A piece of a body: appended when it is the next one of the reassembly
 * under way (or starts one at offset 0); the whole command runs, once,
 * with the last piece's seq. A refusal leaves the reassembly as it was. */
static void cmd_fragment(odl_server_t *srv, const odl_frame_t *f)
{
	odl_reassembly_t *r = &srv->frag;
	const uint16_t have = r->active ? r->received : 0u;

	if (f->body_len < ODL_WIRE_FRAGMENT_HEAD_BYTES) {
		reply_error(srv, f, ODL_PERR_BAD_LENGTH, 0, have);
		return;
	}
	odl_wire_fragment_t m;

	odl_wire_fragment_get(f->body, &m);
	const uint8_t *piece = f->body + ODL_WIRE_FRAGMENT_HEAD_BYTES;
	const size_t n = f->body_len - ODL_WIRE_FRAGMENT_HEAD_BYTES;
	int ok;

	if (m.offset == 0u) {
		ok = m.first_seq == f->seq && fragmentable(m.cmd) && m.total > 0u &&
		     m.total <= ODL_PROTO_FRAG_MAX && n > 0u && n <= m.total;
	} else {
		ok = r->active && m.first_seq == r->first_seq && m.cmd == r->cmd && m.total == r->total &&
		     m.offset == r->received && n > 0u && n <= (size_t)(r->total - r->received);
	}
	if (!ok) {
		reply_error(srv, f, ODL_PERR_BAD_FRAGMENT, 0, have);
		return;
	}
	if (m.offset == 0u) {
		/* a new reassembly replaces an unfinished one */
		r->active = 1u;
		r->cmd = m.cmd;
		r->first_seq = f->seq;
		r->total = m.total;
		r->received = 0u;
	}
	memcpy(r->buf + r->received, piece, n);
	r->received = (uint16_t)(r->received + n);
	if (r->received < r->total) {
		const odl_wire_fragment_reply_t reply = {.received = r->received, .total = r->total};

		send_reply(srv, ODL_CMD_FRAGMENT | ODL_CMD_REPLY, 0u, f->seq,
			   odl_wire_fragment_reply_put(srv->reply + ODL_PROTO_HEADER_BYTES, &reply));
		return;
	}
	r->active = 0u;
	const odl_frame_t whole = {
		.cmd = r->cmd, .flags = 0u, .seq = f->seq, .body = r->buf, .body_len = r->total,
	};

	execute(srv, &whole);
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
	case ODL_CMD_LOAD_REPLAY: cmd_load_replay(srv, f); break;
	case ODL_CMD_GROW: cmd_grow(srv, f); break;
	case ODL_CMD_TRAIN_UNLABELLED: cmd_train_unlabelled(srv, f); break;
	case ODL_CMD_FRAGMENT: cmd_fragment(srv, f); break;
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
		if (f.cmd != ODL_CMD_FRAGMENT) {
			srv->frag.active = 0u; /* another command ends an unfinished reassembly */
		}
		execute(srv, &f);
		/* after execute: a HELLO reports the request before it */
		srv->last_seq = f.seq;
		srv->last_seq_valid = 1u;
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
