/*
 * The C side of the protocol's shared test vectors (protocol/test_vectors.txt):
 * every frame vector is encoded and decoded with the firmware's own framing
 * code; every body vector is walked with the field lists generated from
 * protocol/wire.toml (odl_wire_gen.h), its listed field values read at the
 * generated offsets, and its fixed head decoded and re-encoded with the
 * generated get/put functions the server uses.
 * usage: test_vectors FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odl_proto.h"
#define ODL_WIRE_DESCRIPTORS
#include "odl_wire_gen.h"

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

/* --- body vectors ---------------------------------------------------------- */

typedef struct span {
	size_t off;
	size_t len;
} span_t;

static const odl_wire_msg_desc_t *find_msg(const char *name)
{
	for (size_t i = 0; i < sizeof(odl_wire_messages) / sizeof(odl_wire_messages[0]); i++) {
		if (strcmp(odl_wire_messages[i].name, name) == 0) {
			return &odl_wire_messages[i];
		}
	}
	return NULL;
}

static size_t scalar_size(char t)
{
	switch (t) {
	case 'B': return 1;
	case 'H': case 'h': return 2;
	case 'I': case 'f': return 4;
	case 'Q': return 8;
	default: return 0;
	}
}

/* Where each field lies in body; 0 unless the fields cover it exactly. */
static int walk(const odl_wire_msg_desc_t *m, const uint8_t *body, size_t n, span_t *spans)
{
	size_t off = 0;

	for (uint8_t i = 0; i < m->n_fields; i++) {
		const odl_wire_field_desc_t *f = &m->fields[i];
		size_t len;

		if (f->type == 'S') {
			len = (size_t)odl_wire_structs[f->struct_index].size * f->count;
		} else if (f->type == 's' || f->type == 'b') {
			if (off >= n) {
				return 0;
			}
			len = 1u + body[off];
		} else if (f->type == '*') {
			len = n - off;
		} else {
			len = scalar_size(f->type) * f->count;
		}
		if (off + len > n) {
			return 0;
		}
		spans[i] = (span_t){off, len};
		off += len;
	}
	return off == n;
}

static int scalar_equals(char t, const uint8_t *p, const char *text)
{
	char *end = NULL;

	switch (t) {
	case 'B': return p[0] == strtoull(text, &end, 0);
	case 'H': return odl_get_u16(p) == strtoull(text, &end, 0);
	case 'I': return odl_get_u32(p) == strtoull(text, &end, 0);
	case 'Q': return odl_get_u64(p) == strtoull(text, &end, 0);
	case 'h': return (int16_t)odl_get_u16(p) == strtol(text, &end, 0);
	case 'f': return odl_get_f32(p) == strtof(text, &end);
	default: return 0;
	}
}

/* One FIELD=VALUE of a body vector, read where the generated tables put it. */
static int field_equals(const odl_wire_msg_desc_t *m, const uint8_t *body, const span_t *spans,
			char *token)
{
	static uint8_t want[MAXB];
	char *value = strchr(token, '=');
	char *rest;

	if (value == NULL) {
		return 0;
	}
	*value++ = '\0';
	rest = strchr(token, '.');
	if (rest != NULL) {
		*rest++ = '\0';
	}
	for (uint8_t i = 0; i < m->n_fields; i++) {
		const odl_wire_field_desc_t *f = &m->fields[i];
		const uint8_t *p = body + spans[i].off;

		if (strcmp(f->name, token) != 0) {
			continue;
		}
		if (f->type == 'S') {
			const odl_wire_struct_desc_t *st = &odl_wire_structs[f->struct_index];
			size_t moff = 0;

			if (rest != NULL && f->array) {
				const unsigned long k = strtoul(rest, &rest, 10);

				if (k >= f->count || *rest++ != '.') {
					return 0;
				}
				p += k * st->size;
			}
			for (uint8_t j = 0; rest != NULL && j < st->n_fields; j++) {
				if (strcmp(st->fields[j].name, rest) == 0) {
					return scalar_equals(st->fields[j].type, p + moff, value);
				}
				moff += scalar_size(st->fields[j].type);
			}
			return 0;
		}
		if (f->type == 's') {
			return p[0] == strlen(value) && memcmp(p + 1, value, p[0]) == 0;
		}
		if (f->type == 'b' || f->type == '*') {
			const size_t n = strncmp(value, "0x", 2) == 0 ? unhex(value + 2, want) : 0;
			const uint8_t *got = f->type == 'b' ? p + 1 : p;
			const size_t got_n = f->type == 'b' ? p[0] : spans[i].len;

			return n == got_n && memcmp(got, want, n) == 0;
		}
		for (uint8_t k = 0; k < f->count; k++) {
			char *next = strchr(value, ',');

			if (next != NULL) {
				*next = '\0';
			}
			if ((next == NULL) != (k + 1 == f->count) ||
			    !scalar_equals(f->type, p + k * scalar_size(f->type), value)) {
				return 0;
			}
			value = next + 1;
		}
		return 1;
	}
	return 0;
}

static void check_body(char *line, int lineno)
{
	static uint8_t body[MAXB], out[MAXB];
	static char name[64], hex[2 * MAXB];
	span_t spans[64];
	int used = 0;

	if (sscanf(line, "%*s %63s %s %n", name, hex, &used) != 2) {
		CHECK(0 && "unreadable body vector", lineno);
		return;
	}
	const odl_wire_msg_desc_t *m = find_msg(name);
	const size_t n = unhex(hex, body);

	CHECK(m != NULL, lineno);
	if (m == NULL) {
		return;
	}
	CHECK(walk(m, body, n, spans), lineno);
	CHECK(m->fixed ? n == m->head_bytes : n >= m->head_bytes, lineno);
	for (char *tok = strtok(line + used, " \n"); tok != NULL; tok = strtok(NULL, " \n")) {
		CHECK(field_equals(m, body, spans, tok), lineno);
	}
	if (m->roundtrip != NULL) {
		/* the server's own decode and encode of the head give the bytes back */
		CHECK(m->roundtrip(body, out) == m->head_bytes && memcmp(out, body, m->head_bytes) == 0,
		      lineno);
	}
	if (strcmp(name, "configure") == 0) {
		odl_wire_configure_t c;
		odl_train_params_t p;
		uint16_t bad = 99;

		odl_wire_configure_get(body, &c);
		odl_wire_configure_params(&c, &p);
		CHECK(odl_wire_check_train_params(&p, &bad) == ODL_OK && bad == ODL_WIRE_PARAM_NONE, lineno);
		CHECK(p.tp_zeta == 0.5f && p.select_score == c.select_score, lineno);
		p.gate_threshold = 1.5f;
		CHECK(odl_wire_check_train_params(&p, &bad) == ODL_ERR_PARAM &&
		      bad == ODL_WIRE_PARAM_GATE_THRESHOLD, lineno);
	}
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
		} else if (strcmp(kind, "body") == 0) {
			check_body(line, lineno);
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
