# firmware.mk - the protocol firmware (core + protocol server + app) on the
# bare-metal mps2 boards, built through mps2.mk:
#   make -f mk/firmware.mk BOARD=an386 MPS2_BUILD=build/mps2_an386 fw
# The Makefile's mps2-an385/an386/an500 targets call this.

FW_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
GIT_HASH := $(shell git -C $(FW_DIR) rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
FW_VERSION := 0.1.0
ODL_ARENA_SIZE ?= 131072
# Room for two full frames in flight (ODL_PROTO_MAX_BODY is 8192).
ODL_RX_RING_SIZE ?= 16384

MPS2_DEFINES += -I$(FW_DIR)/core/include -I$(FW_DIR)/protocol/include -I$(FW_DIR)/app \
	-DODL_RX_RING_SIZE=$(ODL_RX_RING_SIZE) -DODL_ARENA_SIZE=$(ODL_ARENA_SIZE) \
	-DODL_FW_VERSION='"$(FW_VERSION)"' -DODL_GIT_HASH='"$(GIT_HASH)"'

include $(FW_DIR)/mk/mps2.mk

FW_SRCS := $(wildcard $(FW_DIR)/core/src/*.c) $(FW_DIR)/protocol/src/odl_frame.c \
	$(FW_DIR)/protocol/src/odl_server.c $(FW_DIR)/app/odl_app.c $(FW_DIR)/ports/mps2/main.c
FW_OBJS := $(call mps2_objs,$(patsubst $(FW_DIR)/%,%,$(FW_SRCS)))

$(MPS2_BUILD)/odl_fw.elf: $(FW_OBJS)

.PHONY: fw
fw: $(MPS2_BUILD)/odl_fw.elf
