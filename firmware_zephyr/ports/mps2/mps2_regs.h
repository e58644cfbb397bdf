/*
 * mps2_regs.h - the few registers the mps2 port touches.
 *
 * Addresses: ARMv7-M Architecture Reference Manual (system control space),
 * CMSDK TRM DDI0479 (APB UART) and the AN385/AN386/AN500 memory maps,
 * which QEMU 7.2 models identically for UART0, its IRQs and SYSCLK.
 */
#ifndef MPS2_REGS_H
#define MPS2_REGS_H

#include <stdint.h>

#define MPS2_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Board clock: SYSCLK feeds the CPU, SysTick (CLKSOURCE=1) and the APB. */
#define MPS2_SYSCLK_HZ 25000000u

/* System control block */
#define SCB_CPUID MPS2_REG(0xE000ED00u)
#define SCB_ICSR  MPS2_REG(0xE000ED04u)
#define SCB_VTOR  MPS2_REG(0xE000ED08u)
#define SCB_AIRCR MPS2_REG(0xE000ED0Cu)
#define SCB_CFSR  MPS2_REG(0xE000ED28u)
#define SCB_HFSR  MPS2_REG(0xE000ED2Cu)
#define SCB_CPACR MPS2_REG(0xE000ED88u)

#define SCB_ICSR_PENDSTSET      (1u << 26)
#define SCB_AIRCR_SYSRESETREQ   (0x05FAu << 16 | 1u << 2)
#define SCB_CPACR_CP10_CP11_FULL (0xFu << 20)

/* SysTick: 24-bit down counter */
#define SYST_CSR MPS2_REG(0xE000E010u)
#define SYST_RVR MPS2_REG(0xE000E014u)
#define SYST_CVR MPS2_REG(0xE000E018u)

#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_MAX_RELOAD    0x00FFFFFFu

/* NVIC: one set-enable register covers the board's 32 IRQs */
#define NVIC_ISER0 MPS2_REG(0xE000E100u)

/* CMSDK APB UART0 (the one QEMU wires to -serial) */
#define UART0_BASE        0x40004000u
#define UART0_DATA        MPS2_REG(UART0_BASE + 0x00u)
#define UART0_STATE       MPS2_REG(UART0_BASE + 0x04u)
#define UART0_CTRL        MPS2_REG(UART0_BASE + 0x08u)
#define UART0_INTSTATUS   MPS2_REG(UART0_BASE + 0x0Cu) /* write: INTCLEAR */
#define UART0_BAUDDIV     MPS2_REG(UART0_BASE + 0x10u)

#define UART_STATE_TXFULL    (1u << 0)
#define UART_STATE_RXFULL    (1u << 1)
#define UART_STATE_RXOVERRUN (1u << 3)
#define UART_CTRL_TX_EN      (1u << 0)
#define UART_CTRL_RX_EN      (1u << 1)
#define UART_CTRL_RX_INTEN   (1u << 3)
#define UART_INT_RX          (1u << 1)

/* UART0 RX is IRQ 0 and TX IRQ 1 on AN385, AN386 and AN500 alike. */
#define UART0_RX_IRQ 0u

#endif /* MPS2_REGS_H */
