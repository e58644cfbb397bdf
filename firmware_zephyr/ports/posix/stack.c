/*
 * stack.c - the app's thread and its painted stack.
 *
 * odl_app_main() runs on a pthread whose stack is a static buffer
 * (pthread_attr_setstack), painted before the thread starts, so the
 * high-water mark is measured exactly as on the boards: the deepest byte
 * that no longer holds the paint.
 *
 * glibc puts the thread descriptor and static TLS at the top of a
 * caller-supplied stack. Both figures are therefore counted from the
 * frame of the thread's entry function, not from the top of the buffer:
 * stack_size is what the app can use, high_water what it used.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "odl_port.h"
#include "posix_port.h"

#ifndef ODL_POSIX_STACK_SIZE
#define ODL_POSIX_STACK_SIZE (256u * 1024u)
#endif
_Static_assert(ODL_POSIX_STACK_SIZE % 4096u == 0u && ODL_POSIX_STACK_SIZE >= 65536u,
	       "ODL_POSIX_STACK_SIZE must be a multiple of 4096 and >= 64 KiB");

#define STACK_PAINT 0xAAu

static _Alignas(4096) uint8_t app_stack[ODL_POSIX_STACK_SIZE];
static uintptr_t stack_entry; /* frame of the entry function */

struct app_run {
	int (*fn)(void);
	int result;
};

static void *app_thread(void *arg)
{
	struct app_run *run = arg;

	stack_entry = (uintptr_t)__builtin_frame_address(0);
	run->result = run->fn();
	return NULL;
}

int posix_stack_run(int (*fn)(void))
{
	struct app_run run = {.fn = fn, .result = 0};
	pthread_attr_t attr;
	pthread_t thread;
	int err;

	memset(app_stack, STACK_PAINT, sizeof(app_stack));
	if ((err = pthread_attr_init(&attr)) != 0 ||
	    (err = pthread_attr_setstack(&attr, app_stack, sizeof(app_stack))) != 0 ||
	    (err = pthread_create(&thread, &attr, app_thread, &run)) != 0) {
		fprintf(stderr, "odl posix: cannot start the app thread: %s\n", strerror(err));
		return -1;
	}
	pthread_attr_destroy(&attr);
	if ((err = pthread_join(thread, NULL)) != 0) {
		fprintf(stderr, "odl posix: pthread_join: %s\n", strerror(err));
		return -1;
	}
	return run.result;
}

uint32_t odl_port_stack_size(void)
{
	return (uint32_t)(stack_entry - (uintptr_t)app_stack);
}

/* Under AddressSanitizer the scan may cross redzones of frames that are
 * live or gone: reading them here is intended. */
__attribute__((no_sanitize_address)) uint32_t odl_port_stack_high_water(void)
{
	const volatile uint8_t *p = app_stack;

	while ((uintptr_t)p < stack_entry && *p == STACK_PAINT) {
		p++;
	}
	return (uint32_t)(stack_entry - (uintptr_t)p);
}
