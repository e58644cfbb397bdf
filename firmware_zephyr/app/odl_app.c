#include <stdint.h>

#include "odl_app.h"
#include "odl_port.h"
#include "odl_server.h"

#ifndef ODL_ARENA_SIZE
#define ODL_ARENA_SIZE (128u * 1024u)
#endif
#ifndef ODL_FW_VERSION
#define ODL_FW_VERSION "0.1.0"
#endif
#ifndef ODL_GIT_HASH
#define ODL_GIT_HASH "unknown"
#endif

/*
 * Build identity as global symbols, not only as literals inside the info
 * struct: a host that flashes an image reads odl_fw_git_hash and
 * odl_fw_version from the ELF's symbol table (pyelftools) and compares them
 * with what HELLO reports, to know the device runs the image it was given.
 * External linkage keeps the names in every build's symbol table; "used"
 * stops the compiler from dropping them, and the info struct's references
 * keep --gc-sections (mps2, Zephyr) from discarding their sections.
 */
__attribute__((used)) const char odl_fw_git_hash[] = ODL_GIT_HASH;
__attribute__((used)) const char odl_fw_version[] = ODL_FW_VERSION;

/* Static, not on the stack: the server's frame buffers and the arena are the
 * bulk of the firmware's RAM and show up in the ELF's .bss. */
static odl_server_t server;
static uint8_t arena[ODL_ARENA_SIZE] __attribute__((aligned(8)));
static const odl_server_info_t info = {
	.fw_version = odl_fw_version,
	.git_hash = odl_fw_git_hash,
};

int odl_app_main(void)
{
	if (odl_port_init() != 0) {
		return 1;
	}
	odl_server_init(&server, arena, sizeof(arena), &info);
	odl_server_run(&server);
	odl_port_reset();
	return 0;
}
