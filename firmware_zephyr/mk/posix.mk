# posix.mk - host build of the firmware: the POSIX port serves the serial
# link on a pseudo-terminal (see ports/posix/README.md).
#
# Include from firmware_zephyr/Makefile, or run directly:
#   make -f firmware_zephyr/mk/posix.mk posix-echo
#   make -f firmware_zephyr/mk/posix.mk POSIX_SAN=1 posix-echo
#
# The port has main(); it calls odl_app_main() on the painted stack
# thread. An application links like this:
#   $(eval $(call posix_program,odl_app,app/odl_app.c protocol/wire.c core/src/mlp.c))
# which makes $(POSIX_BUILD)/odl_app from those sources (relative to
# firmware_zephyr/) plus the port's objects.

POSIX_FW := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
POSIX_PORT := $(POSIX_FW)/ports/posix

# POSIX_SAN=1: AddressSanitizer + UBSan (for fuzzing and the test suite),
# built into its own directory.
POSIX_SAN ?= 0
ifeq ($(POSIX_SAN),1)
POSIX_BUILD ?= $(POSIX_FW)/build/posix_san
else
POSIX_BUILD ?= $(POSIX_FW)/build/posix
endif
POSIX_STACK_SIZE ?= 262144
POSIX_OPT ?= -O2
# Extra defines and include paths, e.g. POSIX_DEFINES=-I$(POSIX_FW)/core/include
# (use a separate POSIX_BUILD per configuration: flags are not tracked).
POSIX_DEFINES ?=
POSIX_CC ?= $(CC)

# -ffp-contract=off: no fused multiply-add, so float results match the
# boards and the numpy twin bit for bit.
POSIX_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 $(POSIX_OPT) -g \
	-ffp-contract=off -Wall -Wextra -Werror -pthread \
	-DODL_POSIX_STACK_SIZE=$(POSIX_STACK_SIZE) $(POSIX_DEFINES) \
	-I$(POSIX_FW)/platform/include -I$(POSIX_FW)/app -I$(POSIX_PORT)
POSIX_LDFLAGS := -pthread
POSIX_LDLIBS := -lm

ifeq ($(POSIX_SAN),1)
POSIX_SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
POSIX_CFLAGS += $(POSIX_SAN_FLAGS)
POSIX_LDFLAGS += $(POSIX_SAN_FLAGS)
endif

POSIX_SRCS := $(addprefix ports/posix/,main.c pty.c stack.c system.c)

# Objects for sources given relative to firmware_zephyr/.
posix_objs = $(patsubst %.c,$(POSIX_BUILD)/obj/%.o,$(1))

POSIX_OBJS := $(call posix_objs,$(POSIX_SRCS))
.SECONDARY: $(POSIX_OBJS)

$(POSIX_BUILD)/obj/%.o: $(POSIX_FW)/%.c
	@mkdir -p $(dir $@)
	$(POSIX_CC) $(POSIX_CFLAGS) -MMD -MP -c $< -o $@

# $(call posix_program,NAME,SOURCES): link $(POSIX_BUILD)/NAME from
# SOURCES plus the port. A macro rather than a pattern rule: executables
# have no suffix, and a match-anything rule would also match objects and
# dependency files.
define posix_program
$$(POSIX_BUILD)/$(1): $$(call posix_objs,$(2)) $$(POSIX_OBJS)
	$$(POSIX_CC) $$(POSIX_LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(POSIX_LDLIBS)
endef

-include $(shell find $(POSIX_BUILD)/obj -name '*.d' 2>/dev/null)

# Port self-test
$(eval $(call posix_program,echo,ports/selftest/echo.c))

.PHONY: posix-echo
posix-echo: $(POSIX_BUILD)/echo
