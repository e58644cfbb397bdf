/*
 * stack.c - stack high-water mark by painting.
 *
 * One stack (MSP) serves main() and every exception, so the mark covers
 * interrupt nesting as well.
 */
#include <stdint.h>

#include "mps2_port.h"
#include "odl_port.h"

/* Linker script symbols: the stack is [__stack_bottom, __stack_top). */
extern uint32_t __stack_bottom[], __stack_top[];

#define STACK_PAINT 0xAAAAAAAAu

void mps2_stack_paint(void)
{
	uintptr_t sp;

	__asm volatile("mov %0, sp" : "=r"(sp));
	/* Everything below our own SP is free; volatile keeps the compiler
	 * from turning this into a memset call whose frame we would paint. */
	for (volatile uint32_t *p = __stack_bottom; (uintptr_t)p < sp; p++) {
		*p = STACK_PAINT;
	}
}

uint32_t odl_port_stack_size(void)
{
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t odl_port_stack_high_water(void)
{
	const uint32_t *p = __stack_bottom;

	while (p < __stack_top && *p == STACK_PAINT) {
		p++;
	}
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
