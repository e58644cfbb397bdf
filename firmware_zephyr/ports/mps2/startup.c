/*
 * startup.c - vector table and reset path for the mps2 boards.
 *
 * QEMU's -kernel loader places the ELF and the core fetches SP and PC from
 * address 0, so the table sits at the start of the code region.
 */
#include <stdint.h>
#include <string.h>
#include <picotls.h>

#include "mps2_port.h"
#include "mps2_regs.h"
#include "odl_port.h"

int main(void);

/* Linker script symbols */
extern uint32_t __stack_top[];
extern uint8_t __data_start[], __data_end[], __data_source[];
extern uint8_t __bss_start[], __bss_end[];
extern uint8_t __tls_base[];

/* The app exits with 128 + exception number when it faults. */
#define FAULT_EXIT_BASE 128

static void put_hex(const char *label, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t out[8];

	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)digits[(v >> (28 - 4 * i)) & 0xFu];
	}
	odl_port_write((const uint8_t *)label, strlen(label));
	odl_port_write(out, sizeof(out));
}

static void fault_isr(void)
{
	uint32_t ipsr;

	/* Without semihosting the exit BKPT faults: reset, as promised for
	 * boards without a debugger. */
	if (mps2_exit_in_progress()) {
		odl_port_reset();
	}
	__asm volatile("mrs %0, ipsr" : "=r"(ipsr));
	/* Writing with TX disabled would wait forever for TXFULL to clear. */
	if (mps2_uart_tx_enabled()) {
		put_hex("\r\n*** fault ipsr=", ipsr);
		put_hex(" cfsr=", SCB_CFSR);
		put_hex(" hfsr=", SCB_HFSR);
		odl_port_write((const uint8_t *)"\r\n", 2);
	}
	odl_port_exit(FAULT_EXIT_BASE + (int)(ipsr & 0x1FFu));
}

/* Everything after the FPU is on lives in its own function, so no float
 * instruction can be scheduled ahead of the CPACR write. */
static void __attribute__((noinline, noreturn)) start_c(void)
{
	memcpy(__data_start, __data_source, (size_t)(__data_end - __data_start));
	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	/* .tdata/.tbss were just initialised in place as the main thread's
	 * TLS block (errno lives there). */
	_set_tls(__tls_base);
	mps2_stack_paint();

	odl_port_exit(main());
	for (;;) {
	}
}

void mps2_reset_isr(void)
{
#if defined(__ARM_FP)
	SCB_CPACR |= SCB_CPACR_CP10_CP11_FULL;
	__asm volatile("dsb\n\tisb" ::: "memory");
#endif
	start_c();
}

typedef void (*vector_t)(void);

#define NUM_IRQS 32u

/* 16 core exceptions, then the board's 32 IRQs. */
__attribute__((section(".vectors"), used))
static const vector_t vector_table[16u + NUM_IRQS] = {
	[0] = (vector_t)(uintptr_t)__stack_top,
	[1] = mps2_reset_isr,
	[2] = fault_isr,  /* NMI */
	[3] = fault_isr,  /* HardFault */
	[4] = fault_isr,  /* MemManage */
	[5] = fault_isr,  /* BusFault */
	[6] = fault_isr,  /* UsageFault */
	[11] = fault_isr, /* SVCall: unused, so unexpected */
	[12] = fault_isr, /* DebugMon */
	[14] = fault_isr, /* PendSV */
	[15] = mps2_systick_isr,
	[16u + UART0_RX_IRQ] = mps2_uart0_rx_isr,
	[17 ... 16u + NUM_IRQS - 1u] = fault_isr,
};
_Static_assert(UART0_RX_IRQ == 0u, "the table above assumes UART0 RX is IRQ 0");
