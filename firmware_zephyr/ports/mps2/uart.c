/*
 * uart.c - CMSDK APB UART0: polled TX, interrupt-driven RX into a ring.
 *
 * The UART holds a single received byte, so without the IRQ the host's
 * bytes are lost (on hardware) or throttled (QEMU stops reading the
 * socket while RXFULL is set). The ISR moves each byte into the ring.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mps2_port.h"
#include "mps2_regs.h"
#include "odl_port.h"

#ifndef ODL_RX_RING_SIZE
#define ODL_RX_RING_SIZE 4096u
#endif
_Static_assert((ODL_RX_RING_SIZE & (ODL_RX_RING_SIZE - 1u)) == 0u &&
		       ODL_RX_RING_SIZE >= 16u,
	       "ODL_RX_RING_SIZE must be a power of two >= 16");

#define BAUD_RATE 115200u

/* Single producer (ISR) and single consumer (thread) on one core: the
 * free-running indices need no lock, only volatile so that neither side
 * caches them or reorders ring accesses around them. */
static volatile uint8_t rx_ring[ODL_RX_RING_SIZE];
static volatile uint32_t rx_head;
static volatile uint32_t rx_tail;
static volatile uint32_t rx_overruns;

void mps2_uart_init(void)
{
	UART0_BAUDDIV = MPS2_SYSCLK_HZ / BAUD_RATE;
	UART0_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;
	NVIC_ISER0 = 1u << UART0_RX_IRQ;
}

bool mps2_uart_tx_enabled(void)
{
	return (UART0_CTRL & UART_CTRL_TX_EN) != 0u;
}

void mps2_uart0_rx_isr(void)
{
	/* The RX interrupt is a latched status bit, not the RXFULL level:
	 * clear it before draining so a byte arriving meanwhile re-raises it. */
	UART0_INTSTATUS = UART_INT_RX;

	while ((UART0_STATE & UART_STATE_RXFULL) != 0u) {
		uint8_t byte = (uint8_t)UART0_DATA;
		uint32_t head = rx_head;

		if (head - rx_tail == ODL_RX_RING_SIZE) {
			rx_overruns++;
		} else {
			rx_ring[head & (ODL_RX_RING_SIZE - 1u)] = byte;
			rx_head = head + 1u;
		}
	}

	/* A byte the UART itself dropped because the ISR came too late. */
	if ((UART0_STATE & UART_STATE_RXOVERRUN) != 0u) {
		UART0_STATE = UART_STATE_RXOVERRUN;
		rx_overruns++;
	}
}

size_t odl_port_read(uint8_t *buf, size_t max)
{
	uint32_t tail = rx_tail;
	uint32_t avail = rx_head - tail;
	size_t n = avail < max ? avail : max;

	for (size_t i = 0; i < n; i++) {
		buf[i] = rx_ring[(tail + i) & (ODL_RX_RING_SIZE - 1u)];
	}
	rx_tail = tail + (uint32_t)n;
	return n;
}

void odl_port_write(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		while ((UART0_STATE & UART_STATE_TXFULL) != 0u) {
		}
		UART0_DATA = buf[i];
	}
}

void odl_port_wait(void)
{
	/* Check and sleep with IRQs masked: a byte landing between the check
	 * and WFI still wakes the core (WFI ignores PRIMASK), and the ISR
	 * runs as soon as they are unmasked again. */
	__asm volatile("cpsid i" ::: "memory");
	if (rx_head == rx_tail) {
		__asm volatile("dsb\n\twfi" ::: "memory");
	}
	__asm volatile("cpsie i" ::: "memory");
}

uint32_t odl_port_rx_capacity(void)
{
	return ODL_RX_RING_SIZE;
}

uint32_t odl_port_rx_overruns(void)
{
	return rx_overruns;
}
