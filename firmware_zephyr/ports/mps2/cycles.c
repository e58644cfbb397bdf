/*
 * cycles.c - 32-bit cycle counter from the 24-bit SysTick.
 *
 * QEMU does not model the DWT cycle counter, so SysTick on the processor
 * clock is the only cycle source that works both in QEMU and on silicon.
 * It counts down from 2^24 - 1; each wrap raises an interrupt that adds
 * 2^24 to the upper bits.
 */
#include <stdint.h>

#include "mps2_port.h"
#include "mps2_regs.h"
#include "odl_port.h"

#define WRAP_SHIFT 24u

static volatile uint32_t systick_wraps;

void mps2_systick_isr(void)
{
	systick_wraps++;
}

void mps2_cycles_init(void)
{
	SYST_CSR = 0u;
	SYST_RVR = SYST_MAX_RELOAD;
	SYST_CVR = 0u; /* any write clears the counter */
	/* Clock source before enable: the order QEMU 7.2 was seen to need
	 * (7.2.22 here counts right either way; it costs one write). */
	SYST_CSR = SYST_CSR_CLKSOURCE;
	SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
	/* The counter sits at 0 until the first tick loads RELOAD, and that
	 * load is no wrap: reading across it would step back by 2^24. */
	while (SYST_CVR == 0u) {
	}
}

uint32_t odl_port_cycles(void)
{
	for (;;) {
		uint32_t wraps = systick_wraps;
		uint32_t count = SYST_CVR;
		/* A pending SysTick is a wrap the ISR has not counted yet: the
		 * caller may have IRQs masked or run at higher priority. Re-read
		 * the counter so it is certainly from after the pend. */
		uint32_t pending = (SCB_ICSR & SCB_ICSR_PENDSTSET) != 0u;

		if (pending != 0u) {
			count = SYST_CVR;
			/* The exception pends as the count reaches 0, one tick
			 * before the reload that starts the next period. */
			if (count == 0u) {
				pending = 0u;
			}
		}
		/* Retry if the ISR ran in between: wraps and count may then
		 * belong to different periods. */
		if (wraps == systick_wraps) {
			return ((wraps + pending) << WRAP_SHIFT) +
			       (SYST_MAX_RELOAD - count);
		}
	}
}

uint32_t odl_port_cycles_hz(void)
{
	return MPS2_SYSCLK_HZ;
}
