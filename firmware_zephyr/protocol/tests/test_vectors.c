/*
 * The C side of the protocol's shared test vectors (protocol/test_vectors.txt):
 * every vector is encoded and decoded with the firmware's own framing code.
 * usage: test_vectors FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odl_proto.h"

static int passed, failed;

#define CHECK(cond, line)                                                                  \
	do {                                                                               \
		if (cond) {                                                                \
			passed++;                                                          \
		} else {                                                                   \
			failed++;                                                          \
			printf("FAIL line %d: %s\n", line, #cond);                         \
		}                                                                          \
	} while (0)

#define MAXB 20000

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	if (strcmp(s, "-") == 0) {
		return 0;
	}
	for (; s[0] && s[1]; s += 2) {
		unsigned v;

		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* Feed wire bytes; returns the event of the last byte, decoded frame in buf. */
static odl_cobs_event_t decode(const uint8_t *wire, size_t n, uint8_t *buf, size_t cap, size_t *len)
{
	odl_cobs_decoder_t dec;
	odl_cobs_event_t ev = ODL_COBS_NONE;

	odl_cobs_decoder_init(&dec, buf, cap);
	for (size_t i = 0; i < n; i++) {
		ev = odl_cobs_decode_byte(&dec, wire[i]);
		if (i + 1 < n && ev != ODL_COBS_NONE) {
			return ODL_COBS_INVALID; /* a frame ended early */
		}
	}
	*len = dec.len;
	return ev;
}

int main(int argc, char **argv)
{
	static char line[4 * MAXB];
	static uint8_t raw[MAXB], wire[MAXB], enc[MAXB], dec[MAXB], body[MAXB];
	int lineno = 0, vectors = 0;
	FILE *f = argc > 1 ? fopen(argv[1], "r") : NULL;

	if (f == NULL) {
		fprintf(stderr, "usage: %s test_vectors.txt\n", argv[0]);
		return 2;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char kind[16], a[4 * MAXB / 2], b[4 * MAXB / 2];
		static char c[4 * MAXB / 2], d[4 * MAXB / 2], e[4 * MAXB / 2];
		size_t len;

		lineno++;
		if (line[0] == '#' || line[0] == '\n') {
			continue;
		}
		vectors++;
		if (sscanf(line, "%15s", kind) != 1) {
			continue;
		}
		if (strcmp(kind, "cobs") == 0 && sscanf(line, "%*s %s %s", a, b) == 2) {
			size_t n_raw = unhex(a, raw), n_wire = unhex(b, wire);
			size_t n_enc = odl_cobs_encode(raw, n_raw, enc, sizeof(enc));

			CHECK(n_enc == n_wire && memcmp(enc, wire, n_wire) == 0, lineno);
			CHECK(decode(wire, n_wire, dec, sizeof(dec), &len) == ODL_COBS_FRAME, lineno);
			CHECK(len == n_raw && memcmp(dec, raw, n_raw) == 0, lineno);
		} else if (strcmp(kind, "frame") == 0 &&
			   sscanf(line, "%*s %s %s %s %s %s", a, b, c, d, e) == 5) {
			const uint8_t cmd = (uint8_t)strtoul(a, NULL, 16);
			const uint8_t flags = (uint8_t)strtoul(b, NULL, 16);
			const uint16_t seq = (uint16_t)strtoul(c, NULL, 10);
			const size_t n_body = unhex(d, body), n_wire = unhex(e, wire);

			memcpy(raw + ODL_PROTO_HEADER_BYTES, body, n_body);
			size_t n_raw = odl_frame_seal(raw, sizeof(raw), cmd, flags, seq, n_body);
			size_t n_enc = odl_cobs_encode(raw, n_raw, enc, sizeof(enc));

			CHECK(n_enc == n_wire && memcmp(enc, wire, n_wire) == 0, lineno);
			CHECK(decode(wire, n_wire, dec, sizeof(dec), &len) == ODL_COBS_FRAME, lineno);
			odl_frame_t fr;

			CHECK(odl_frame_parse(dec, len, &fr) == 0, lineno);
			CHECK(fr.cmd == cmd && fr.flags == flags && fr.seq == seq, lineno);
			CHECK(fr.body_len == n_body && memcmp(fr.body, body, n_body) == 0, lineno);
		} else if (strcmp(kind, "bad") == 0 && sscanf(line, "%*s %s %s", a, b) == 2) {
			const int want = strcmp(a, "BAD_CRC") == 0 ? ODL_PERR_BAD_CRC : ODL_PERR_BAD_FRAME;
			const size_t n_wire = unhex(b, wire);
			odl_cobs_event_t ev = decode(wire, n_wire, dec, sizeof(dec), &len);
			odl_frame_t fr;
			int got = ev == ODL_COBS_FRAME ? odl_frame_parse(dec, len, &fr) : ODL_PERR_BAD_FRAME;

			CHECK(got == want, lineno);
		} else {
			printf("FAIL line %d: unreadable vector\n", lineno);
			failed++;
		}
	}
	fclose(f);
	CHECK(vectors >= 25, lineno);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
