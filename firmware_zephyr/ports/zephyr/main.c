/* The firmware's entry on Zephyr: main() runs on the main thread, whose stack
 * (CONFIG_MAIN_STACK_SIZE) the port measures for METRICS. odl_app_main()
 * returns only when the port cannot start (a hard RESET never returns). */
#include "odl_app.h"
#include "odl_port.h"

int main(void)
{
	int rc = odl_app_main();

#if defined(CONFIG_ODL_EXIT_SEMIHOSTING)
	/* Emulator builds: end QEMU with the code, like the bare-metal mps2
	 * startup does; a real board keeps idling instead of reset looping. */
	odl_port_exit(rc);
#endif
	return rc;
}
