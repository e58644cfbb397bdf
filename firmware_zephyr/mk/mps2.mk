# mps2.mk - bare-metal build for QEMU's mps2 boards (Debian's
# gcc-arm-none-eabi + picolibc-arm-none-eabi).
#
# Include from firmware_zephyr/Makefile, or run directly:
#   make -f firmware_zephyr/mk/mps2.mk BOARD=an386 mps2-echo
#
# An application links like this:
#   APP_OBJS := $(call mps2_objs,core/src/mlp.c app/main.c)
#   $(MPS2_BUILD)/app.elf: $(APP_OBJS)
# (sources relative to firmware_zephyr/; the pattern rule below adds the
# port's objects and the linker script).

MPS2_FW := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
MPS2_PORT := $(MPS2_FW)/ports/mps2

BOARD ?= an385
MPS2_BUILD ?= $(MPS2_FW)/build/mps2_$(BOARD)
MPS2_STACK_SIZE ?= 16384
MPS2_OPT ?= -O2
# Extra defines, e.g. MPS2_DEFINES=-DODL_RX_RING_SIZE=1024 (use a
# separate MPS2_BUILD per configuration: flags are not tracked).
MPS2_DEFINES ?=
CROSS_COMPILE ?= arm-none-eabi-
MPS2_CC := $(CROSS_COMPILE)gcc

# -cpu is implied by the machine: QEMU's mps2 boards accept only their own.
ifeq ($(BOARD),an385)
MPS2_ARCH := -mcpu=cortex-m3 -mfloat-abi=soft
MPS2_BOARD_DEF := -DODL_MPS2_AN385
else ifeq ($(BOARD),an386)
MPS2_ARCH := -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard
MPS2_BOARD_DEF := -DODL_MPS2_AN386
else ifeq ($(BOARD),an500)
# QEMU's cortex-m7 has the double-precision FPv5.
MPS2_ARCH := -mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard
MPS2_BOARD_DEF := -DODL_MPS2_AN500
else
$(error BOARD must be an385, an386 or an500, not '$(BOARD)')
endif
MPS2_ARCH += -mthumb --specs=picolibc.specs

# -ffp-contract=off: no fused multiply-add, so float results match the
# host build bit for bit.
MPS2_CFLAGS := $(MPS2_ARCH) -std=c11 $(MPS2_OPT) -g \
	-ffunction-sections -fdata-sections -ffp-contract=off \
	-Wall -Wextra -Werror $(MPS2_BOARD_DEF) $(MPS2_DEFINES) \
	-I$(MPS2_FW)/platform/include -I$(MPS2_FW)/app -I$(MPS2_PORT)

MPS2_LDSCRIPT := $(MPS2_PORT)/mps2.ld
MPS2_LDFLAGS := $(MPS2_ARCH) -nostartfiles -T$(MPS2_LDSCRIPT) \
	-Wl,--gc-sections -Wl,--defsym=__stack_size=$(MPS2_STACK_SIZE)

MPS2_SRCS := $(addprefix ports/mps2/,startup.c uart.c cycles.c stack.c system.c)

# Objects for sources given relative to firmware_zephyr/.
mps2_objs = $(patsubst %.c,$(MPS2_BUILD)/obj/%.o,$(1))

MPS2_OBJS := $(call mps2_objs,$(MPS2_SRCS))
# Named only by the pattern rule below: keep make from deleting them.
.SECONDARY: $(MPS2_OBJS)

$(MPS2_BUILD)/obj/%.o: $(MPS2_FW)/%.c
	@mkdir -p $(dir $@)
	$(MPS2_CC) $(MPS2_CFLAGS) -MMD -MP -c $< -o $@

$(MPS2_BUILD)/%.elf: $(MPS2_OBJS) $(MPS2_LDSCRIPT)
	$(MPS2_CC) $(MPS2_LDFLAGS) -Wl,-Map=$(@:.elf=.map) -o $@ $(filter %.o,$^)

-include $(shell find $(MPS2_BUILD)/obj -name '*.d' 2>/dev/null)

# Port self-test
$(MPS2_BUILD)/echo.elf: $(call mps2_objs,ports/mps2/main.c ports/selftest/echo.c)

.PHONY: mps2-echo
mps2-echo: $(MPS2_BUILD)/echo.elf
