/*
 * system.c - init, identity, reset and exit for the mps2 port.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mps2_port.h"
#include "mps2_regs.h"
#include "odl_port.h"

#if defined(ODL_MPS2_AN385)
#define BOARD_NAME "mps2_an385"
#elif defined(ODL_MPS2_AN386)
#define BOARD_NAME "mps2_an386"
#elif defined(ODL_MPS2_AN500)
#define BOARD_NAME "mps2_an500"
#else
#error "define one of ODL_MPS2_AN385, ODL_MPS2_AN386, ODL_MPS2_AN500"
#endif

/* Arm semihosting: operation numbers and the reason code for exit */
#define SYS_EXIT_EXTENDED           0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static volatile bool exit_in_progress;

int odl_port_init(void)
{
	mps2_uart_init();
	mps2_cycles_init();
	return 0;
}

const char *odl_port_board_name(void)
{
	return BOARD_NAME;
}

/* Every emulated board of one kind is identical, so the id is the FNV-1a
 * hash of the board name followed by CPUID (core and revision). */
size_t odl_port_device_id(uint8_t *id, size_t max)
{
	uint32_t hash = 2166136261u;
	uint32_t cpuid = SCB_CPUID;
	uint8_t raw[8];
	size_t n = max < sizeof(raw) ? max : sizeof(raw);

	for (const char *c = BOARD_NAME; *c != '\0'; c++) {
		hash = (hash ^ (uint8_t)*c) * 16777619u;
	}
	for (size_t i = 0; i < 4u; i++) {
		raw[i] = (uint8_t)(hash >> (24u - 8u * i));
		raw[4u + i] = (uint8_t)(cpuid >> (24u - 8u * i));
	}
	for (size_t i = 0; i < n; i++) {
		id[i] = raw[i];
	}
	return n;
}

void odl_port_reset(void)
{
	__asm volatile("dsb" ::: "memory");
	SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
	__asm volatile("dsb" ::: "memory");
	for (;;) {
	}
}

void odl_port_exit(int code)
{
	/* Let the last byte leave the UART before QEMU goes away. */
	while (mps2_uart_tx_enabled() && (UART0_STATE & UART_STATE_TXFULL) != 0u) {
	}

	/* SYS_EXIT_EXTENDED carries any exit code (SYS_EXIT only 0 or 1);
	 * QEMU needs -semihosting-config enable=on,target=native. The
	 * register variables must be set after the last call above, which
	 * would clobber r0/r1. */
	uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
	register uint32_t op __asm("r0") = SYS_EXIT_EXTENDED;
	register uint32_t *arg __asm("r1") = block;

	exit_in_progress = true;
	__asm volatile("bkpt 0xAB" : "+r"(op) : "r"(arg) : "memory");
	/* Reached only if a debugger returns from the call. */
	odl_port_reset();
}

bool mps2_exit_in_progress(void)
{
	return exit_in_progress;
}
