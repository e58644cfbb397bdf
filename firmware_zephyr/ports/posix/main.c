/*
 * main.c - entry of the POSIX port: options, the pty, then odl_app_main()
 * on the painted stack thread. The program's exit status is what
 * odl_app_main() returns or what the app passes to odl_port_exit().
 *
 * usage: <program> [--pty-link FILE] [--exit-on-hangup]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "odl_port.h"
#include "posix_port.h"

/* The application's entry is declared in app/odl_app.h; the port's own
 * examples build without it. */
#if defined(__has_include)
#if __has_include("odl_app.h")
#include "odl_app.h"
#define POSIX_HAVE_ODL_APP_H 1
#endif
#endif
#ifndef POSIX_HAVE_ODL_APP_H
int odl_app_main(void);
#endif

#define EXIT_USAGE 2

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [--pty-link FILE] [--exit-on-hangup]\n"
		"Serves the device side of the serial link on a new pseudo-terminal;\n"
		"prints 'PTY /dev/pts/N' on stdout (and into FILE with --pty-link).\n"
		"  --pty-link FILE    also write the slave path to FILE (atomically)\n"
		"  --exit-on-hangup   exit with 0 when the host closes the port\n"
		"                     (default: wait for the next opener)\n",
		prog);
}

int main(int argc, char **argv)
{
	const char *link_path = NULL;
	bool exit_on_hangup = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pty-link") == 0 && i + 1 < argc) {
			link_path = argv[++i];
		} else if (strncmp(argv[i], "--pty-link=", 11) == 0) {
			link_path = argv[i] + 11;
		} else if (strcmp(argv[i], "--exit-on-hangup") == 0) {
			exit_on_hangup = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, argv[0]);
			return 0;
		} else {
			fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
			usage(stderr, argv[0]);
			return EXIT_USAGE;
		}
	}
	posix_save_argv(argv);
	if (posix_pty_setup(link_path, exit_on_hangup) != 0) {
		return EXIT_FAILURE;
	}
	int code = posix_stack_run(odl_app_main);

	posix_pty_drain();
	fflush(NULL);
	return code < 0 ? EXIT_FAILURE : code;
}
