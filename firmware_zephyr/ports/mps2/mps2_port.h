/*
 * mps2_port.h - glue between the files of the mps2 port (not for the app).
 */
#ifndef MPS2_PORT_H
#define MPS2_PORT_H

#include <stdbool.h>

/* Entry point from the vector table (and the ELF entry). */
void mps2_reset_isr(void) __attribute__((noreturn));

/* Fill the free stack below the caller's frame with the paint pattern. */
void mps2_stack_paint(void);

void mps2_uart_init(void);
bool mps2_uart_tx_enabled(void);
void mps2_uart0_rx_isr(void);

/* True once odl_port_exit() issued its semihosting call: a fault after
 * that means no debugger took the BKPT. */
bool mps2_exit_in_progress(void);

void mps2_cycles_init(void);
void mps2_systick_isr(void);

#endif /* MPS2_PORT_H */
