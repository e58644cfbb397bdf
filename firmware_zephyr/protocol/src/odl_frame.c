#include <string.h>

#include "odl/odl_crc32.h"
#include "odl_proto.h"

void odl_cobs_decoder_init(odl_cobs_decoder_t *dec, uint8_t *buf, size_t cap)
{
	memset(dec, 0, sizeof(*dec));
	dec->buf = buf;
	dec->cap = cap;
}

static void restart(odl_cobs_decoder_t *dec)
{
	dec->left = 0;
	dec->zero_due = 0;
	dec->overflow = 0;
	dec->invalid = 0;
	dec->started = 0;
}

static void put(odl_cobs_decoder_t *dec, uint8_t byte)
{
	if (dec->len < dec->cap) {
		dec->buf[dec->len++] = byte;
	} else {
		dec->overflow = 1;
	}
}

odl_cobs_event_t odl_cobs_decode_byte(odl_cobs_decoder_t *dec, uint8_t byte)
{
	if (byte == 0u) {
		odl_cobs_event_t ev;

		if (!dec->started) {
			ev = ODL_COBS_NONE; /* empty frame: back-to-back delimiters */
		} else if (dec->overflow) {
			ev = ODL_COBS_TOO_LONG;
		} else if (dec->invalid || dec->left != 0u) {
			ev = ODL_COBS_INVALID; /* a block promised more bytes than came */
		} else {
			ev = ODL_COBS_FRAME;
		}
		restart(dec);
		if (ev != ODL_COBS_FRAME) {
			dec->len = 0;
		}
		return ev;
	}
	if (!dec->started) {
		dec->started = 1;
		dec->len = 0;
	}
	if (dec->left == 0u) {
		/* a code byte: the zero it stands for comes before its block */
		if (dec->zero_due) {
			put(dec, 0u);
		}
		dec->left = (uint8_t)(byte - 1u);
		dec->zero_due = byte != 0xFFu;
	} else {
		put(dec, byte);
		dec->left--;
	}
	return ODL_COBS_NONE;
}

size_t odl_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 1, code_at = 0;
	uint8_t code = 1;

	if (cap < n + n / 254u + 2u) {
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (in[i] == 0u) {
			out[code_at] = code;
			code_at = o++;
			code = 1;
			continue;
		}
		out[o++] = in[i];
		if (++code == 0xFFu) {
			out[code_at] = code;
			code_at = o++;
			code = 1;
		}
	}
	out[code_at] = code;
	out[o++] = 0u;
	return o;
}

int odl_frame_parse(const uint8_t *raw, size_t len, odl_frame_t *frame)
{
	if (len < ODL_PROTO_HEADER_BYTES + ODL_PROTO_CRC_BYTES) {
		return ODL_PERR_BAD_FRAME;
	}
	const size_t crc_at = len - ODL_PROTO_CRC_BYTES;

	if (odl_crc32(raw, crc_at, 0u) != odl_get_u32(raw + crc_at)) {
		return ODL_PERR_BAD_CRC;
	}
	frame->cmd = raw[0];
	frame->flags = raw[1];
	frame->seq = odl_get_u16(raw + 2);
	frame->body = raw + ODL_PROTO_HEADER_BYTES;
	frame->body_len = crc_at - ODL_PROTO_HEADER_BYTES;
	return 0;
}

size_t odl_frame_seal(uint8_t *out, size_t cap, uint8_t cmd, uint8_t flags, uint16_t seq,
		      size_t body_len)
{
	const size_t len = ODL_PROTO_HEADER_BYTES + body_len + ODL_PROTO_CRC_BYTES;

	if (cap < len) {
		return 0;
	}
	out[0] = cmd;
	out[1] = flags;
	odl_put_u16(out + 2, seq);
	odl_put_u32(out + len - ODL_PROTO_CRC_BYTES, odl_crc32(out, len - ODL_PROTO_CRC_BYTES, 0u));
	return len;
}
