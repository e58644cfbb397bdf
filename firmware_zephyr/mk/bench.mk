# bench.mk - the core benchmark firmware that python -m bench.mcu runs in QEMU:
# the core and core/bench/bench_mcu.c on the bare-metal mps2 port, with the
# generated bench_data.h (model, weights, samples) from BENCH_DATA_DIR.
#   make -f mk/bench.mk BOARD=an386 MPS2_BUILD=dir BENCH_DATA_DIR=dir bench
# Use one MPS2_BUILD per board and model (flags are not tracked).

BENCH_FW := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BENCH_DATA_DIR ?= $(MPS2_BUILD)
# BENCH_DEFINES: e.g. -DBENCH_STEPS=24 -DBENCH_ARENA=16384
MPS2_DEFINES += -I$(BENCH_FW)/core/include -I$(BENCH_DATA_DIR) $(BENCH_DEFINES)
include $(BENCH_FW)/mk/mps2.mk

BENCH_SRCS := $(patsubst $(BENCH_FW)/%,%,$(wildcard $(BENCH_FW)/core/src/*.c)) \
	core/bench/bench_mcu.c ports/mps2/main.c

.PHONY: bench
$(MPS2_BUILD)/bench_mcu.elf: $(call mps2_objs,$(BENCH_SRCS))
bench: $(MPS2_BUILD)/bench_mcu.elf
