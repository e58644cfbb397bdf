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

/* Static, not on the stack: the server's frame buffers and the arena are the
 * bulk of the firmware's RAM and show up in the ELF's .bss. */
static odl_server_t server;
static uint8_t arena[ODL_ARENA_SIZE] __attribute__((aligned(8)));
static const odl_server_info_t info = {
	.fw_version = ODL_FW_VERSION,
	.git_hash = ODL_GIT_HASH,
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
