# firmware.mk - the protocol firmware (core + protocol server + app) on a port:
#   make -f mk/firmware.mk PORT=mps2 BOARD=an386 MPS2_BUILD=build/mps2_an386 fw
#   make -f mk/firmware.mk PORT=posix [POSIX_SAN=1] POSIX_BUILD=build/posix fw
# The output is $(MPS2_BUILD)/odl_fw.elf or $(POSIX_BUILD)/odl_fw.

FW_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
PORT ?= mps2
FW_VERSION := 0.1.0
# The build id HELLO reports; --dirty marks images built from uncommitted sources.
GIT_HASH := $(shell git -C $(FW_DIR) describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
ODL_ARENA_SIZE ?= 131072
# Room for two full frames in flight (ODL_PROTO_MAX_BODY is 8192).
ODL_RX_RING_SIZE ?= 16384

FW_FLAGS := -I$(FW_DIR)/core/include -I$(FW_DIR)/protocol/include -I$(FW_DIR)/app \
	-DODL_ARENA_SIZE=$(ODL_ARENA_SIZE) -DODL_FW_VERSION='"$(FW_VERSION)"' \
	-DODL_GIT_HASH='"$(GIT_HASH)"'
FW_SRCS := $(patsubst $(FW_DIR)/%,%,$(wildcard $(FW_DIR)/core/src/*.c)) \
	protocol/src/odl_frame.c protocol/src/odl_server.c app/odl_app.c

.PHONY: fw FORCE
FORCE:

ifeq ($(PORT),mps2)
MPS2_DEFINES += $(FW_FLAGS) -DODL_RX_RING_SIZE=$(ODL_RX_RING_SIZE)
include $(FW_DIR)/mk/mps2.mk
$(MPS2_BUILD)/odl_fw.elf: $(call mps2_objs,$(FW_SRCS) ports/mps2/main.c)
# the build id changes without any source changing: its one user depends on a stamp
# rewritten only when the id changes, so an unchanged tree relinks nothing
$(MPS2_BUILD)/build_id.txt: FORCE
	@mkdir -p $(@D); echo '$(GIT_HASH)' | cmp -s - $@ || echo '$(GIT_HASH)' > $@
$(call mps2_objs,app/odl_app.c): $(MPS2_BUILD)/build_id.txt
fw: $(MPS2_BUILD)/odl_fw.elf
else ifeq ($(PORT),posix)
POSIX_DEFINES += $(FW_FLAGS)
include $(FW_DIR)/mk/posix.mk
$(eval $(call posix_program,odl_fw,$(FW_SRCS)))
$(POSIX_BUILD)/build_id.txt: FORCE
	@mkdir -p $(@D); echo '$(GIT_HASH)' | cmp -s - $@ || echo '$(GIT_HASH)' > $@
$(call posix_objs,app/odl_app.c): $(POSIX_BUILD)/build_id.txt
fw: $(POSIX_BUILD)/odl_fw
else
$(error PORT must be mps2 or posix, not '$(PORT)')
endif
