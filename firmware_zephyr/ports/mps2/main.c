/* The firmware's entry on the bare-metal mps2 boards. */
#include "odl_app.h"

int main(void)
{
	return odl_app_main();
}
