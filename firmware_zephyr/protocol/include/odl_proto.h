/*
 * odl_proto.h - wire protocol constants and framing (docs/protocol.md).
 *
 * On the wire a frame is COBS-encoded and ends with one 0x00 byte, so a
 * receiver resynchronises at the next zero after any garbage. Decoded:
 *
 *   cmd u8 | flags u8 | seq u16 | body (0..ODL_PROTO_MAX_BODY) | crc32 u32
 *
 * little-endian; the CRC (odl_crc32.h, zlib's) covers cmd..body.
 * Replies carry cmd | 0x80 and the request's seq; errors carry
 * ODL_CMD_ERROR and an odl_proto_error body.
 */
#ifndef ODL_PROTO_H
#define ODL_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Raised whenever a body layout changes; HELLO reports it and the host
 * refuses a device that speaks another. 2: TRAIN replies carry step_cycles.
 * 3: HELLO replies end with last_seq, last_seq_valid. 4: continual learning:
 * CONFIGURE's continual form, LOAD_REPLAY and GROW. 5: FRAGMENT (a body sent
 * in pieces, HELLO reports frag_max). The bodies themselves are in
 * protocol/wire.toml (odl_wire_gen.h asserts this number matches). */
#define ODL_PROTO_VERSION 5u

#ifndef ODL_PROTO_MAX_BODY
#define ODL_PROTO_MAX_BODY 8192u
#endif
#define ODL_PROTO_HEADER_BYTES 4u
#define ODL_PROTO_CRC_BYTES 4u
#define ODL_PROTO_MAX_FRAME (ODL_PROTO_HEADER_BYTES + ODL_PROTO_MAX_BODY + ODL_PROTO_CRC_BYTES)
/* COBS adds one byte per 254 and one up front; the delimiter adds one more */
#define ODL_PROTO_MAX_WIRE(n) ((n) + (n) / 254u + 2u)

enum odl_cmd {
	ODL_CMD_HELLO = 0x01,
	ODL_CMD_CONFIGURE = 0x02,
	ODL_CMD_LOAD_WEIGHTS = 0x03,
	ODL_CMD_READ_WEIGHTS = 0x04,
	ODL_CMD_TRAIN = 0x05,
	ODL_CMD_INFER = 0x06,
	ODL_CMD_EVALUATE = 0x07,
	ODL_CMD_METRICS = 0x08,
	ODL_CMD_RESET = 0x09,
	ODL_CMD_LOAD_REPLAY = 0x0A,
	ODL_CMD_GROW = 0x0B,
	ODL_CMD_FRAGMENT = 0x0C, /* a piece of another command's body (odl_server.h) */
	ODL_CMD_TRAIN_UNLABELLED = 0x0D, /* TRAIN without labels: pseudo labels (odl_train.h) */
	ODL_CMD_REPLY = 0x80, /* or'ed into the request's cmd */
	ODL_CMD_ERROR = 0xFF,
};

/* Reply flags. */
#define ODL_FLAG_DUPLICATE 0x01u /* the request was executed before; this is its cached reply */
#define ODL_FLAG_STALE 0x02u     /* executed long ago; its reply is gone (body empty) */

enum odl_proto_error {
	ODL_PERR_BAD_CRC = 1,         /* frame checksum wrong: dropped */
	ODL_PERR_BAD_FRAME = 2,       /* COBS invalid or shorter than header + CRC: dropped */
	ODL_PERR_FRAME_TOO_LONG = 3,  /* longer than the device's frame buffer: dropped */
	ODL_PERR_UNKNOWN_COMMAND = 4,
	ODL_PERR_BAD_LENGTH = 5,      /* body length wrong for the command */
	ODL_PERR_BAD_BATCH = 6,       /* batch header inconsistent (encoding, features, count) */
	ODL_PERR_NOT_CONFIGURED = 7,  /* TRAIN, INFER, ... before CONFIGURE */
	ODL_PERR_CORE = 8,            /* the training core refused: see core_status */
	ODL_PERR_SEQ_GAP = 9,         /* seq ahead of the next expected: dropped */
	ODL_PERR_BAD_OFFSET = 10,     /* LOAD_WEIGHTS chunk out of order */
	ODL_PERR_RX_OVERRUN = 11,     /* bytes were lost in the RX buffer: frame dropped */
	ODL_PERR_BAD_FRAGMENT = 12,   /* FRAGMENT out of order, of another reassembly or too big */
};

/* Feature encodings in a sample batch. */
enum odl_encoding {
	ODL_ENC_F32 = 0,
	ODL_ENC_INT8 = 1, /* x = scale * (q - zero_point) */
};

/* --- COBS, streamed on receive -------------------------------------- */

typedef enum odl_cobs_event {
	ODL_COBS_NONE = 0,     /* byte consumed, frame not complete */
	ODL_COBS_FRAME = 1,    /* a frame of dec->len bytes is in dec->buf */
	ODL_COBS_TOO_LONG = 2, /* a frame ended that did not fit dec->buf */
	ODL_COBS_INVALID = 3,  /* a frame ended that was not valid COBS */
} odl_cobs_event_t;

typedef struct odl_cobs_decoder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	uint8_t left;     /* bytes left in the current block */
	uint8_t zero_due; /* a zero belongs before the next block */
	uint8_t overflow;
	uint8_t invalid;
	uint8_t started;
} odl_cobs_decoder_t;

void odl_cobs_decoder_init(odl_cobs_decoder_t *dec, uint8_t *buf, size_t cap);

/* Consume one wire byte. After FRAME, TOO_LONG or INVALID the decoder is
 * ready for the next frame; dec->buf holds the frame until the next byte. */
odl_cobs_event_t odl_cobs_decode_byte(odl_cobs_decoder_t *dec, uint8_t byte);

/* Encode n bytes plus the 0x00 delimiter into out (cap bytes).
 * Returns the bytes written, 0 when cap is too small. */
size_t odl_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/* --- frames ---------------------------------------------------------- */

typedef struct odl_frame {
	uint8_t cmd;
	uint8_t flags;
	uint16_t seq;
	const uint8_t *body;
	size_t body_len;
} odl_frame_t;

/* Parse a decoded frame: 0, ODL_PERR_BAD_FRAME or ODL_PERR_BAD_CRC. */
int odl_frame_parse(const uint8_t *raw, size_t len, odl_frame_t *frame);

/* Header and CRC around a body already placed at out + ODL_PROTO_HEADER_BYTES
 * (body_len bytes); returns the frame length, 0 if cap is too small. Building
 * in place spares a copy of the body. */
size_t odl_frame_seal(uint8_t *out, size_t cap, uint8_t cmd, uint8_t flags, uint16_t seq,
		      size_t body_len);

/* Little-endian field access. */
static inline uint16_t odl_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t odl_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t odl_get_u64(const uint8_t *p)
{
	return (uint64_t)odl_get_u32(p) | ((uint64_t)odl_get_u32(p + 4) << 32);
}

/* float32 by its bit pattern: NaN payloads and -0 survive a round trip */
static inline float odl_get_f32(const uint8_t *p)
{
	const uint32_t u = odl_get_u32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static inline void odl_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void odl_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void odl_put_u64(uint8_t *p, uint64_t v)
{
	odl_put_u32(p, (uint32_t)v);
	odl_put_u32(p + 4, (uint32_t)(v >> 32));
}

static inline void odl_put_f32(uint8_t *p, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	odl_put_u32(p, u);
}

#ifdef __cplusplus
}
#endif

#endif /* ODL_PROTO_H */
