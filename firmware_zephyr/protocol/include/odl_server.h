/*
 * odl_server.h - the device side of the wire protocol: decodes frames,
 * enforces sequence numbers, runs commands on the training core and sends
 * replies through the platform interface (odl_port.h).
 *
 * Exactly-once execution: a request runs only when its seq is the next one
 * expected; a resent request gets the cached reply of its first run; HELLO
 * resynchronises the sequence. Batches are checked whole before any sample
 * trains, so a refused batch changes nothing.
 */
#ifndef ODL_SERVER_H
#define ODL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "odl/odl_blob.h"
#include "odl/odl_model.h"
#include "odl/odl_replay.h"
#include "odl_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Identity reported in HELLO; strings are static and NUL-terminated. */
typedef struct odl_server_info {
	const char *fw_version;
	const char *git_hash;
} odl_server_info_t;

typedef struct odl_server {
	const odl_server_info_t *info;
	odl_model_t model;
	odl_replay_t replay;  /* after the model's region of the arena */
	odl_arch_t max_arch;  /* largest architecture GROW may reach */
	uint8_t *arena;
	size_t arena_size;
	size_t arena_needed;
	uint8_t configured;
	uint8_t loading;
	uint8_t reset_requested;
	uint8_t have_cached;
	odl_blob_loader_t loader;
	size_t load_total;
	uint16_t expected_seq;
	uint16_t last_seq;      /* seq of the last executed request (HELLO reports it) */
	uint8_t last_seq_valid; /* 0 until a request has executed since boot */
	uint32_t overruns_seen;
	uint32_t frames_ok;
	uint32_t frames_bad;
	uint32_t frames_duplicate;
	odl_cobs_decoder_t dec;
	size_t cached_len;
	float x[ODL_MAX_INPUTS];
	uint8_t rx[ODL_PROTO_MAX_FRAME];
	uint8_t reply[ODL_PROTO_MAX_FRAME];
	uint8_t cached[ODL_PROTO_MAX_WIRE(ODL_PROTO_MAX_FRAME)]; /* last reply as sent */
} odl_server_t;

/* Prepare a server that lays models out in arena (arena_size bytes). */
void odl_server_init(odl_server_t *srv, uint8_t *arena, size_t arena_size,
		     const odl_server_info_t *info);

/* Consume received wire bytes; replies go out through odl_port_write(). */
void odl_server_feed(odl_server_t *srv, const uint8_t *data, size_t n);

/* Read, feed and wait forever; returns only to let the caller reset the
 * device after a RESET with the hard flag (the reply has been sent). */
void odl_server_run(odl_server_t *srv);

#ifdef __cplusplus
}
#endif

#endif /* ODL_SERVER_H */
