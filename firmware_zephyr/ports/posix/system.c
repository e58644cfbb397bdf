/*
 * system.c - init, cycles, identity, reset and exit for the POSIX port.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "odl_port.h"
#include "posix_port.h"

#define BOARD_NAME "native_posix"
#define CYCLES_HZ 1000000000u
/* Exit status when odl_port_reset() cannot re-exec the program. */
#define EXIT_RESET_FAILED 125

static char **saved_argv;

void posix_save_argv(char **argv)
{
	saved_argv = argv;
}

int odl_port_init(void)
{
	return posix_pty_ready() ? 0 : -1;
}

/* CLOCK_MONOTONIC in nanoseconds, truncated to 32 bits: wraps every
 * 4.29 s, which callers handle by taking differences. Wall time on a
 * shared host, so it is noisy; the boards' counters are not. */
uint32_t odl_port_cycles(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint32_t odl_port_cycles_hz(void)
{
	return CYCLES_HZ;
}

const char *odl_port_board_name(void)
{
	return BOARD_NAME;
}

/* FNV-1a of the hostname, then the pid: unique per running instance on
 * the lab's hosts, and unchanged by odl_port_reset() (exec keeps the pid). */
size_t odl_port_device_id(uint8_t *id, size_t max)
{
	char host[256] = "";
	uint32_t hash = 2166136261u;
	uint32_t pid = (uint32_t)getpid();
	uint8_t raw[8];
	size_t n = max < sizeof(raw) ? max : sizeof(raw);

	gethostname(host, sizeof(host) - 1u);
	for (const char *c = host; *c != '\0'; c++) {
		hash = (hash ^ (uint8_t)*c) * 16777619u;
	}
	for (size_t i = 0; i < 4u; i++) {
		raw[i] = (uint8_t)(hash >> (24u - 8u * i));
		raw[4u + i] = (uint8_t)(pid >> (24u - 8u * i));
	}
	memcpy(id, raw, n);
	return n;
}

/* A power-on reset: re-exec this program with the same arguments, so all
 * static state starts afresh. The pty master is handed to the new image,
 * so the host keeps its port open and sees the new banner on it. Bytes
 * the host sent that the old image had taken from the pty are lost, as a
 * board's UART ring is. */
void odl_port_reset(void)
{
	fflush(NULL);
	posix_pty_prepare_exec();
	if (saved_argv != NULL) {
		execv("/proc/self/exe", saved_argv);
	}
	fprintf(stderr, "odl posix: reset: cannot exec /proc/self/exe: %s\n", strerror(errno));
	exit(EXIT_RESET_FAILED);
}

void odl_port_exit(int code)
{
	posix_pty_drain();
	exit(code);
}
