/*
 * posix_port.h - glue between the files of the POSIX port (not for the app).
 */
#ifndef POSIX_PORT_H
#define POSIX_PORT_H

#include <stdbool.h>

/* Create the pseudo-terminal (or adopt the one inherited across a reset),
 * put it in raw packet mode, print "PTY <slave path>" on stdout and write
 * the path to link_path when it is not NULL. Returns 0 or -1 (message on
 * stderr). */
int posix_pty_setup(const char *link_path, bool exit_on_hangup);

/* True once posix_pty_setup() succeeded. */
bool posix_pty_ready(void);

/* Before exit: wait (bounded) until the host has read what we wrote, since
 * closing the master discards the slave's unread input. */
void posix_pty_drain(void);

/* Before exec: keep the master open across execv and tell the new image
 * its fd and link state through the environment. */
void posix_pty_prepare_exec(void);

/* Remember argv for odl_port_reset() (re-exec with the same arguments). */
void posix_save_argv(char **argv);

/* Run fn on a thread whose stack is the port's painted static buffer;
 * returns fn's result. */
int posix_stack_run(int (*fn)(void));

#endif /* POSIX_PORT_H */
