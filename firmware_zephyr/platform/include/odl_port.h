/*
 * odl_port.h - the platform interface: the only thing a port implements.
 *
 * The protocol and application code above this header never touch hardware;
 * each port (bare-metal mps2, Zephyr, POSIX host) supplies these functions.
 * The idea follows MLPerf Tiny's th_* porting layer: a handful of
 * small functions, no callbacks into the application, no allocation.
 *
 * Contracts common to all functions: they may be called only after
 * odl_port_init() returned 0; none of them allocates memory.
 */
#ifndef ODL_PORT_H
#define ODL_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring up the serial link, the cycle counter and stack accounting.
 * Returns 0 on success, a negative value when the hardware is unusable. */
int odl_port_init(void);

/* Copy up to max received bytes into buf without blocking.
 * Returns the number of bytes copied (0 when none is pending). Bytes are
 * buffered by the port (interrupt-driven RX ring); the ring never blocks the
 * sender, bytes that arrive while it is full are dropped and counted. */
size_t odl_port_read(uint8_t *buf, size_t max);

/* Sleep until something may have happened (a byte arrived, a tick passed).
 * May return spuriously; callers loop around odl_port_read(). */
void odl_port_wait(void);

/* Send len bytes; blocks until they are handed to the transmitter. */
void odl_port_write(const uint8_t *buf, size_t len);

/* Capacity of the RX ring in bytes: the host sizes its send window from it. */
uint32_t odl_port_rx_capacity(void);

/* Bytes dropped because the RX ring was full, since boot. */
uint32_t odl_port_rx_overruns(void);

/* Free-running 32-bit cycle counter; wraps modulo 2^32. Callers take
 * differences of two readings (unsigned arithmetic handles one wrap). */
uint32_t odl_port_cycles(void);

/* Frequency of odl_port_cycles() in Hz. */
uint32_t odl_port_cycles_hz(void);

/* Size of the stack the application runs on, and the most of it ever used
 * (high-water mark from painting or from the RTOS), in bytes. */
uint32_t odl_port_stack_size(void);
uint32_t odl_port_stack_high_water(void);

/* Board name (Zephyr board name where one exists), NUL-terminated, static. */
const char *odl_port_board_name(void);

/* Up to max bytes of a unique device identity; returns the length written. */
size_t odl_port_device_id(uint8_t *id, size_t max);

/* Restart the device as after power-on. Does not return. */
void odl_port_reset(void);

/* End the program with an exit code where the platform can (semihosting in
 * QEMU, exit() on the host); on a real board this resets. Does not return. */
void odl_port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* ODL_PORT_H */
