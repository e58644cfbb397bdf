/*
 * echo.c - self-test of a port, the same program on every port.
 *
 * Provides odl_app_main() in place of the real application: prints a
 * banner, echoes every byte it receives; on 'q' reports the stack
 * high-water mark and the cycles of a fixed float loop, then exits with
 * code 3 (the host checks the exit status: QEMU's through semihosting);
 * on 'r' resets (the POSIX port re-executes itself on the same pty).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "odl_port.h"

/* Declared in app/odl_app.h; repeated so the self-test builds alone. */
int odl_app_main(void);

#define QUIT_BYTE 'q'
#define RESET_BYTE 'r'
#define QUIT_CODE 3
#define LOOP_ITERATIONS 1000

static void print(const char *text, int len)
{
	if (len > 0) {
		odl_port_write((const uint8_t *)text, (size_t)len);
	}
}

/* The input comes through a volatile so the loop cannot be folded at
 * compile time; with -ffp-contract=off the result is 0x40aa5165 on every
 * target, printed as bits to compare with the host. */
static float float_loop(void)
{
	static volatile float seed = 0.5f;
	float x = seed;
	float acc = 0.0f;

	for (int i = 0; i < LOOP_ITERATIONS; i++) {
		acc = acc * 0.75f + x * x;
		x = x * 1.0009765625f - 0.0001f;
	}
	return acc;
}

static void report_and_exit(void)
{
	char line[160];
	union {
		float f;
		uint32_t u;
	} result;
	uint32_t start = odl_port_cycles();

	result.f = float_loop();
	uint32_t cycles = odl_port_cycles() - start;

	print(line, snprintf(line, sizeof(line),
			     "\r\nhigh_water=%" PRIu32 " loop_cycles=%" PRIu32
			     " loop_result=0x%08" PRIx32 " overruns=%" PRIu32
			     " now=%" PRIu32 "\r\n",
			     odl_port_stack_high_water(), cycles, result.u,
			     odl_port_rx_overruns(), odl_port_cycles()));
	odl_port_exit(QUIT_CODE);
}

int odl_app_main(void)
{
	char line[160];
	uint8_t id[8];
	uint8_t buf[64];

	if (odl_port_init() != 0) {
		return 1;
	}
	size_t id_len = odl_port_device_id(id, sizeof(id));
	int n = snprintf(line, sizeof(line),
			 "odl echo board=%s cycles_hz=%" PRIu32
			 " stack=%" PRIu32 " rx_ring=%" PRIu32 " id=",
			 odl_port_board_name(), odl_port_cycles_hz(),
			 odl_port_stack_size(), odl_port_rx_capacity());
	for (size_t i = 0; i < id_len; i++) {
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", id[i]);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "\r\n");
	print(line, n);

	for (;;) {
		size_t got = odl_port_read(buf, sizeof(buf));

		if (got == 0u) {
			odl_port_wait();
			continue;
		}
		for (size_t i = 0; i < got; i++) {
			if (buf[i] == QUIT_BYTE || buf[i] == RESET_BYTE) {
				odl_port_write(buf, i);
				if (buf[i] == RESET_BYTE) {
					odl_port_reset();
				}
				report_and_exit();
			}
		}
		odl_port_write(buf, got);
	}
}
