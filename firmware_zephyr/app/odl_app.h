/*
 * odl_app.h - the firmware application every port's main() runs: the wire
 * protocol server over the training core, on the platform interface.
 */
#ifndef ODL_APP_H
#define ODL_APP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Initialise the port and serve the host until a hard RESET, which ends in
 * odl_port_reset(). Returns non-zero only when the port fails to start. */
int odl_app_main(void);

#ifdef __cplusplus
}
#endif

#endif /* ODL_APP_H */
