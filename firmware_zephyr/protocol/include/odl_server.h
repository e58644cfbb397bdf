/*
 * odl_server.h - the device side of the wire protocol: decodes frames,
 * enforces sequence numbers, runs commands on the training core and sends
 * replies through the platform interface (odl_port.h).
 *
 * Exactly-once execution: a request runs only when its seq is the next one
 * expected; a resent request gets the cached reply of its first run; HELLO
 * resynchronises the sequence. Batches are checked whole before any sample
 * trains, so a refused batch changes nothing.
 *
 * Fragments (protocol 5): on a line too poor for even a one-sample frame
 * the host sends a command's body as FRAGMENT pieces, each its own frame
 * with its own seq, acknowledged like any request. The server copies them,
 * in order, into its reassembly buffer and runs the command once, when the
 * last piece arrives, under that piece's seq (its reply is the command's
 * own, cached like any). A resent piece is answered from the reply cache;
 * a piece at the wrong offset, of another reassembly or too big is refused
 * (BAD_FRAGMENT) and changes nothing; any other command that runs discards
 * an unfinished reassembly.
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

/* The reassembly buffer's bytes: by default one record of the largest
 * sample batch (a 16-byte TRAIN/EVALUATE/INFER/LOAD_REPLAY head, a label
 * and ODL_MAX_INPUTS float32 features: 4113 bytes at 1024 inputs), the
 * most a host needs when a one-sample frame does not get through; never
 * more than a body. It lives in odl_server_t (.bss); HELLO reports it. */
#define ODL_PROTO_FRAG_RECORD (16u + 1u + 4u * (unsigned)ODL_MAX_INPUTS)
#ifndef ODL_PROTO_FRAG_MAX
#define ODL_PROTO_FRAG_MAX \
	(ODL_PROTO_FRAG_RECORD < ODL_PROTO_MAX_BODY ? ODL_PROTO_FRAG_RECORD : ODL_PROTO_MAX_BODY)
#endif

typedef struct odl_reassembly {
	uint8_t active;     /* a reassembly is under way */
	uint8_t cmd;        /* the command it is the body of */
	uint16_t first_seq; /* seq of its first piece: names it */
	uint16_t total;     /* body bytes in all */
	uint16_t received;  /* body bytes so far */
	uint8_t buf[ODL_PROTO_FRAG_MAX];
} odl_reassembly_t;

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
	odl_reassembly_t frag;
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
