/*
 * odl_port_zephyr.c - the platform interface (odl_port.h) on Zephyr 4.2.
 *
 * Serial link: the UART named by the devicetree chosen node `zephyr,odl-uart`,
 * falling back to `zephyr,console`. RX is interrupt driven into a
 * <zephyr/sys/ring_buffer.h> ring of CONFIG_ODL_RX_RING_SIZE bytes; the ISR is
 * the only producer (odl_port_init() also runs it once, interrupts locked, for
 * bytes latched before the RX interrupt was enabled) and the application
 * thread the only consumer, which the ring buffer supports without a lock on
 * a single core. TX uses uart_poll_out.
 * If the ODL UART is also the console, printk output shares the wire, and
 * nothing else (shell, console getchar) may own its RX interrupt.
 *
 * Cycle counter, chosen at run time in odl_port_init():
 *   1. Zephyr's timing API when it is backed by the Cortex-M DWT cycle counter
 *      (CONFIG_TIMING_FUNCTIONS + CONFIG_CORTEX_M_DWT): a true 32-bit CPU cycle
 *      count at the core clock (64 MHz nRF52840, 168 MHz STM32F4 Discovery,
 *      120 MHz FRDM-K64F). It is used only if a probe sees it advance:
 *      QEMU does not implement DWT CYCCNT (it reads 0).
 *   2. Otherwise k_cycle_get_32() at sys_clock_hw_cycles_per_sec(): the
 *      system timer's hardware cycles. With the Cortex-M SysTick driver this
 *      is the CPU clock, read to the cycle (qemu_cortex_m3: 12 MHz, mps2/an385:
 *      25 MHz), and under QEMU `-icount shift=N` it is deterministic. On
 *      nRF boards the system timer is the 32768 Hz RTC, which is why the DWT
 *      path comes first.
 *
 * Stack: size and high-water of the thread that called odl_port_init()
 * (normally main), from its stack_info and k_thread_stack_space_get()
 * (needs CONFIG_THREAD_STACK_INFO and CONFIG_INIT_STACKS).
 *
 * Exit: QEMU's Cortex-M boards have no semihosting unless QEMU is started
 * with `-semihosting-config enable=on,target=native`; a BKPT 0xAB without it
 * (or on a board with no debugger) is a fatal fault. So semihosting is used
 * only when CONFIG_ODL_EXIT_SEMIHOSTING=y (emulator builds); otherwise, and if
 * semihosting returns, odl_port_exit() reboots like odl_port_reset(). A reset
 * request (SYSRESETREQ) ends QEMU when it runs with `-no-reboot` (exit status
 * 0, the code is lost). On qemu_cortex_m3 (lm3s6965) Zephyr's sys_reboot()
 * only jumps to the reset vector, so the port issues NVIC_SystemReset() there.
 *
 * Kconfig used (the application's Kconfig defines the ODL_* ones; the
 * defaults below apply when it does not):
 *   ODL_RX_RING_SIZE (int, default 1024), ODL_WAIT_TIMEOUT_MS (int, default
 *   10), ODL_EXIT_SEMIHOSTING (bool), plus Zephyr's SERIAL,
 *   UART_INTERRUPT_DRIVEN, RING_BUFFER, TIMING_FUNCTIONS, THREAD_STACK_INFO,
 *   INIT_STACKS, REBOOT and optionally HWINFO.
 */

#include "odl_port.h"

#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/device.h>
#include <zephyr/devicetree.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/sys/ring_buffer.h>
#include <zephyr/sys/reboot.h>
#include <zephyr/sys/util.h>
#include <zephyr/sys_clock.h>

#if defined(CONFIG_TIMING_FUNCTIONS)
#include <zephyr/timing/timing.h>
#endif
#if defined(CONFIG_HWINFO)
#include <zephyr/drivers/hwinfo.h>
#endif
#if defined(CONFIG_CPU_CORTEX_M)
#include <cmsis_core.h>
#endif

#if !defined(CONFIG_UART_INTERRUPT_DRIVEN)
#error "odl_port_zephyr needs CONFIG_UART_INTERRUPT_DRIVEN=y"
#endif
#if !defined(CONFIG_RING_BUFFER)
#error "odl_port_zephyr needs CONFIG_RING_BUFFER=y"
#endif

#ifndef CONFIG_ODL_RX_RING_SIZE
#define CONFIG_ODL_RX_RING_SIZE 1024
#endif
#ifndef CONFIG_ODL_WAIT_TIMEOUT_MS
#define CONFIG_ODL_WAIT_TIMEOUT_MS 10
#endif

#if DT_HAS_CHOSEN(zephyr_odl_uart)
#define ODL_UART_NODE DT_CHOSEN(zephyr_odl_uart)
#elif DT_HAS_CHOSEN(zephyr_console)
#define ODL_UART_NODE DT_CHOSEN(zephyr_console)
#else
#error "no UART: set the devicetree chosen node zephyr,odl-uart or zephyr,console"
#endif

/* The DWT-backed timing API is a 32-bit counter that wraps modulo 2^32; other
 * timing backends have other widths, so only the DWT one is trusted here. */
#if defined(CONFIG_TIMING_FUNCTIONS) && defined(CONFIG_CORTEX_M_DWT) && \
	!defined(CONFIG_SOC_HAS_TIMING_FUNCTIONS) && !defined(CONFIG_BOARD_HAS_TIMING_FUNCTIONS)
#define ODL_HAVE_DWT_TIMING 1
#else
#define ODL_HAVE_DWT_TIMING 0
#endif

static const struct device *const odl_uart = DEVICE_DT_GET(ODL_UART_NODE);

RING_BUF_DECLARE(odl_rx_ring, CONFIG_ODL_RX_RING_SIZE);
static K_SEM_DEFINE(odl_rx_sem, 0, 1);
static volatile uint32_t odl_rx_dropped;

static bool odl_use_timing;
static uint32_t odl_hz;
static struct k_thread *odl_app_thread;

static void odl_uart_isr(const struct device *dev, void *user_data)
{
	ARG_UNUSED(user_data);
	bool got = false;

	if (!uart_irq_update(dev)) {
		return;
	}
	while (uart_irq_rx_ready(dev)) {
		uint8_t *dst;
		uint32_t room = ring_buf_put_claim(&odl_rx_ring, &dst, CONFIG_ODL_RX_RING_SIZE);
		int n;

		if (room == 0U) {
			/* Ring full: drain the FIFO anyway so the IRQ clears; count the loss. */
			uint8_t scratch[16];

			ring_buf_put_finish(&odl_rx_ring, 0);
			n = uart_fifo_read(dev, scratch, sizeof(scratch));
			if (n <= 0) {
				break;
			}
			odl_rx_dropped += (uint32_t)n;
			got = true;
			continue;
		}
		n = uart_fifo_read(dev, dst, (int)room);
		ring_buf_put_finish(&odl_rx_ring, n > 0 ? (uint32_t)n : 0U);
		if (n <= 0) {
			break;
		}
		got = true;
	}
	if (got) {
		k_sem_give(&odl_rx_sem);
	}
}

static void odl_cycles_init(void)
{
	odl_use_timing = false;
	odl_hz = (uint32_t)sys_clock_hw_cycles_per_sec();
#if ODL_HAVE_DWT_TIMING
	timing_init();
	timing_start();
	uint32_t a = (uint32_t)timing_counter_get();

	k_busy_wait(100);
	uint32_t b = (uint32_t)timing_counter_get();
	uint64_t f = timing_freq_get();

	if (a != b && f != 0U && f <= UINT32_MAX) {
		odl_use_timing = true;
		odl_hz = (uint32_t)f;
	} else {
		timing_stop();
	}
#endif
}

/* Bytes the host sent while the firmware booted may already sit in the UART
 * before its RX interrupt is enabled. Some UARTs raise the RX interrupt only
 * for a byte received while it is enabled: the CMSDK APB UART of the mps2
 * boards (QEMU's model latches INTSTATUS.RX on receive only and accepts no
 * further byte while its one-byte buffer is full), so such a byte would stall
 * the link for good. Run the ISR body once by hand, with interrupts locked so
 * the real ISR cannot interleave: it moves whatever is latched into the ring.
 * uart_fifo_read() is used, not uart_poll_in(): on the CMSDK UART only the
 * former clears INTSTATUS.RX, and a set INTSTATUS.RX with no byte behind it
 * re-enters Zephyr's ISR forever. Those bytes are host bytes like any other;
 * the COBS decoder resynchronises if a frame was cut. */
static void odl_rx_pull_latched(void)
{
	unsigned int key = irq_lock();

	odl_uart_isr(odl_uart, NULL);
	irq_unlock(key);
}

int odl_port_init(void)
{
	int rc;

	if (!device_is_ready(odl_uart)) {
		return -ENODEV;
	}
	odl_app_thread = k_current_get();
	odl_cycles_init();

	uart_irq_rx_disable(odl_uart);
	uart_irq_tx_disable(odl_uart);
	ring_buf_reset(&odl_rx_ring);
	odl_rx_dropped = 0U;

	rc = uart_irq_callback_user_data_set(odl_uart, odl_uart_isr, NULL);
	if (rc != 0) {
		return rc; /* -ENOSYS/-ENOTSUP: driver without interrupt-driven API */
	}
	uart_irq_rx_enable(odl_uart);
	odl_rx_pull_latched();
	return 0;
}

size_t odl_port_read(uint8_t *buf, size_t max)
{
	if (max > UINT32_MAX) {
		max = UINT32_MAX;
	}
	return ring_buf_get(&odl_rx_ring, buf, (uint32_t)max);
}

void odl_port_wait(void)
{
	if (!ring_buf_is_empty(&odl_rx_ring)) {
		return;
	}
	(void)k_sem_take(&odl_rx_sem, K_MSEC(CONFIG_ODL_WAIT_TIMEOUT_MS));
}

void odl_port_write(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uart_poll_out(odl_uart, buf[i]);
	}
}

uint32_t odl_port_rx_capacity(void)
{
	return ring_buf_capacity_get(&odl_rx_ring);
}

uint32_t odl_port_rx_overruns(void)
{
	return odl_rx_dropped;
}

uint32_t odl_port_cycles(void)
{
#if ODL_HAVE_DWT_TIMING
	if (odl_use_timing) {
		return (uint32_t)timing_counter_get();
	}
#endif
	return k_cycle_get_32();
}

uint32_t odl_port_cycles_hz(void)
{
	return odl_hz;
}

static inline struct k_thread *odl_stack_thread(void)
{
	return odl_app_thread != NULL ? odl_app_thread : k_current_get();
}

uint32_t odl_port_stack_size(void)
{
#if defined(CONFIG_THREAD_STACK_INFO)
	return (uint32_t)odl_stack_thread()->stack_info.size;
#else
	return 0U;
#endif
}

uint32_t odl_port_stack_high_water(void)
{
#if defined(CONFIG_THREAD_STACK_INFO) && defined(CONFIG_INIT_STACKS)
	struct k_thread *t = odl_stack_thread();
	size_t unused = 0;

	if (k_thread_stack_space_get(t, &unused) != 0) {
		return 0U;
	}
	return (uint32_t)(t->stack_info.size - unused);
#else
	return 0U;
#endif
}

const char *odl_port_board_name(void)
{
	/* BOARD_TARGET keeps the qualifiers ("mps2/an385", "nrf52840dk/nrf52840");
	 * CONFIG_BOARD alone is "mps2" for every MPS2 variant. */
#if defined(CONFIG_BOARD_TARGET)
	return CONFIG_BOARD_TARGET;
#else
	return CONFIG_BOARD;
#endif
}

size_t odl_port_device_id(uint8_t *id, size_t max)
{
#if defined(CONFIG_HWINFO)
	ssize_t n = hwinfo_get_device_id(id, max);

	if (n > 0) {
		return (size_t)n;
	}
#endif
	/* No hardware identity (QEMU boards, no hwinfo driver): the board name. */
	const char *name = odl_port_board_name();
	size_t len = MIN(strlen(name), max);

	memcpy(id, name, len);
	return len;
}

static FUNC_NORETURN void odl_reboot(void)
{
#if defined(CONFIG_SOC_TI_LM3S6965) && defined(CONFIG_CPU_CORTEX_M)
	/* Zephyr's lm3s6965 (qemu_cortex_m3) sys_arch_reboot() only jumps to the
	 * reset vector, so QEMU never sees a reset and `-no-reboot` cannot end
	 * it. Request a real system reset through SCB AIRCR.SYSRESETREQ. */
	NVIC_SystemReset();
#endif
#if defined(CONFIG_REBOOT)
	sys_reboot(SYS_REBOOT_COLD);
#elif defined(CONFIG_CPU_CORTEX_M)
	NVIC_SystemReset();
#else
	k_panic(); /* no reset facility configured: enable CONFIG_REBOOT */
	CODE_UNREACHABLE;
#endif
}

void odl_port_reset(void)
{
	odl_reboot();
}

#if defined(CONFIG_ODL_EXIT_SEMIHOSTING) && defined(CONFIG_CPU_CORTEX_M)
static void odl_semihost_exit(int code)
{
	/* SYS_EXIT_EXTENDED (0x20): r1 -> {reason, subcode}; QEMU exits with subcode. */
	volatile uint32_t block[2] = {0x20026U /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
	register uint32_t r0 __asm__("r0") = 0x20U;
	register volatile uint32_t *r1 __asm__("r1") = block;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");

	/* Plain SYS_EXIT (0x18): only success / failure. */
	r0 = 0x18U;
	r1 = (volatile uint32_t *)(code == 0 ? 0x20026U : 0x20023U /* ADP_Stopped_RunTimeError */);
	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}
#endif

void odl_port_exit(int code)
{
#if defined(CONFIG_ODL_EXIT_SEMIHOSTING) && defined(CONFIG_CPU_CORTEX_M)
	odl_semihost_exit(code);
#else
	ARG_UNUSED(code);
#endif
	odl_reboot();
}
