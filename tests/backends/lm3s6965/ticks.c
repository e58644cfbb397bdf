/*
 * ticks.c - how fast QEMU's lm3s6965evb SysTick runs against -icount.
 *
 * Counts the SysTick ticks (processor clock, CLKSOURCE=1) of a loop of
 * exactly 2 000 000 instructions (1 000 000 x subs/bne) and prints the count
 * in decimal on UART0, then idles. Used by tests/backends/test_qemu.py to pin
 * the clock behind instructions_from_ticks for Zephyr's qemu_cortex_m3.
 */
#include <stdint.h>

#define REG(a) (*(volatile uint32_t *)(a))
#define UART0_DR 0x4000C000u /* Stellaris UART0 data register (QEMU's PL011) */
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u

extern uint32_t __stack_top;
void reset(void);

__attribute__((section(".vectors"), used)) const void *const vectors[2] = {&__stack_top, (void *)reset};

static void put(char c)
{
	REG(UART0_DR) = (uint32_t)c;
}

static void put_decimal(uint32_t v)
{
	char digits[10];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0u);
	while (n > 0) {
		put(digits[--n]);
	}
}

void reset(void)
{
	REG(SYST_RVR) = 0xFFFFFFu;
	REG(SYST_CVR) = 0u;
	REG(SYST_CSR) = 4u; /* QEMU 7.2 wants the clock source set before enable */
	REG(SYST_CSR) = 5u;
	uint32_t t0 = REG(SYST_CVR);
	__asm volatile("ldr r0, =1000000\n1: subs r0, #1\n bne 1b\n" ::: "r0", "cc");
	uint32_t t1 = REG(SYST_CVR);
	put_decimal((t0 - t1) & 0xFFFFFFu); /* SysTick counts down */
	put('\n');
	for (;;) {
	}
}
