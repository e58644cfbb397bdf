/*
 * pty.c - the serial link: a pseudo-terminal whose slave the host opens
 * with pyserial exactly like a board's /dev/ttyACM0.
 *
 * The program holds the master side. The master runs in packet mode
 * (TIOCPKT) so that, besides data, it learns when the host flushes its
 * input queue: pyserial does that right after opening the port, which is
 * the moment the host is ready to listen. Link states:
 *
 *   IDLE     no host has the slave open (POLLHUP on the master), or none
 *            ever had. Before the first session writes block (like QEMU's
 *            wait=on: nothing the firmware prints at boot is lost);
 *            after a session ended, writes are dropped (like a UART with
 *            the cable pulled) and the program waits for a new opener.
 *   OPENED   the slave is open but the host has neither flushed nor sent
 *            anything yet; becomes SESSION after OPEN_GRACE_MS anyway so
 *            that tools which do not flush (cat, socat) still work.
 *   SESSION  the host listens; writes go through.
 *
 * Right after creating the pty we open and close the slave once, which
 * puts the master into the hung-up state: otherwise the kernel reports no
 * POLLHUP before the first open and that open could not be seen.
 *
 * All functions run on one thread at a time (the app thread, then main
 * after the app returned), so there is no locking.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "odl_port.h"
#include "posix_port.h"

/* What odl_port_rx_capacity() reports: the Linux n_tty read buffer of
 * the master (N_TTY_BUF_SIZE). The host's flow-control window is sized
 * from it, so it must be a lower bound of what the link holds unread;
 * the real figure is larger (this stash + n_tty + the tty flip buffers),
 * and the pty never drops: a host that sends more than fits blocks in
 * write() until we read. Hence odl_port_rx_overruns() is always 0. */
#define RX_CAPACITY 4096u

/* Bytes taken from the master but not yet given to the app. Needed
 * because a blocked writer must read the master to see state changes. */
#define RX_STASH_SIZE 4096u
_Static_assert((RX_STASH_SIZE & (RX_STASH_SIZE - 1u)) == 0u,
	       "RX_STASH_SIZE must be a power of two");

#define WAIT_MS 10
#define OPEN_GRACE_MS 100
#define DRAIN_TIMEOUT_MS 1000
#define DRAIN_POLL_MS 2

/* The inherited master across odl_port_reset(): "<fd> <state> <served>" */
#define ENV_PTY "ODL_POSIX_PTY"

enum link_state { LINK_IDLE, LINK_OPENED, LINK_SESSION };

static int master = -1;
static char slave_path[128];
static bool exit_on_hangup;
static enum link_state state = LINK_IDLE;
static bool served; /* a session has existed since power-on */
static uint64_t opened_at_ms;

static uint8_t stash[RX_STASH_SIZE];
static uint32_t stash_head;
static uint32_t stash_tail;
/* Packet-mode reads carry one leading status byte. Static: the port's
 * own buffers must not show up in the app's stack high-water mark. */
static uint8_t packet[1u + RX_STASH_SIZE];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void fatal(const char *what)
{
	fprintf(stderr, "odl posix: %s: %s\n", what, strerror(errno));
	exit(EXIT_FAILURE);
}

static uint32_t stash_free(void)
{
	return RX_STASH_SIZE - (stash_head - stash_tail);
}

static void start_session(void)
{
	state = LINK_SESSION;
	served = true;
}

static void on_hangup(void)
{
	if (state == LINK_IDLE) {
		return;
	}
	state = LINK_IDLE;
	if (exit_on_hangup) {
		fprintf(stderr, "odl posix: host closed %s, exiting (--exit-on-hangup)\n",
			slave_path);
		exit(EXIT_SUCCESS);
	}
}

/* One read of the master: a status byte, or TIOCPKT_DATA and data. */
static void read_master(void)
{
	uint32_t room = stash_free();

	if (room == 0u) {
		return;
	}
	ssize_t n = read(master, packet, 1u + room);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			return;
		}
		if (errno == EIO) { /* the last opener closed the slave */
			on_hangup();
			return;
		}
		fatal("read pty master");
	}
	if (n == 0) {
		return;
	}
	if (packet[0] == TIOCPKT_DATA) {
		for (ssize_t i = 1; i < n; i++) {
			stash[stash_head & (RX_STASH_SIZE - 1u)] = packet[i];
			stash_head++;
		}
		if (n > 1) {
			start_session(); /* the host talks, so it listens */
		}
	} else if ((packet[0] & TIOCPKT_FLUSHREAD) != 0) {
		start_session(); /* pyserial flushed its input after open */
	}
}

/* Wait up to timeout_ms for the master to change (data, status, hangup,
 * room to write when want_out) and take in what arrived. */
static void pump(int timeout_ms, bool want_out)
{
	struct pollfd pfd = {.fd = master, .events = 0};

	if (stash_free() > 0u) {
		pfd.events |= POLLIN | POLLPRI;
	}
	if (want_out) {
		pfd.events |= POLLOUT;
	}
	int ready = poll(&pfd, 1, timeout_ms);

	if (ready < 0) {
		if (errno == EINTR) {
			return;
		}
		fatal("poll pty master");
	}
	if ((pfd.revents & (POLLIN | POLLPRI)) != 0) {
		read_master(); /* before the hangup: take the last bytes first */
	}
	if ((pfd.revents & POLLHUP) != 0) {
		on_hangup();
		/* poll() returns at once while hung up: sleep instead. */
		sleep_ms(timeout_ms);
		return;
	}
	if (state == LINK_IDLE && (pfd.revents & POLLHUP) == 0) {
		state = LINK_OPENED;
		opened_at_ms = now_ms();
	}
	if (state == LINK_OPENED && now_ms() - opened_at_ms >= OPEN_GRACE_MS) {
		start_session();
	}
}

size_t odl_port_read(uint8_t *buf, size_t max)
{
	if (stash_head == stash_tail) {
		pump(0, false);
	}
	size_t n = 0;

	while (n < max && stash_tail != stash_head) {
		buf[n++] = stash[stash_tail & (RX_STASH_SIZE - 1u)];
		stash_tail++;
	}
	return n;
}

void odl_port_wait(void)
{
	if (stash_head == stash_tail) {
		pump(WAIT_MS, false);
	}
}

void odl_port_write(const uint8_t *buf, size_t len)
{
	while (state != LINK_SESSION) {
		if (state == LINK_IDLE && served) {
			return; /* the host went away: the bytes go nowhere */
		}
		pump(WAIT_MS, false);
	}
	while (len > 0u) {
		ssize_t n = write(master, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			/* The host is not reading; keep taking its bytes meanwhile
			 * so that a host blocked in write() can get to its read. */
			pump(WAIT_MS, true);
			if (state == LINK_IDLE) {
				return;
			}
		} else if (n < 0 && errno == EIO) {
			on_hangup();
			return;
		} else if (!(n < 0 && errno == EINTR)) {
			fatal("write pty master");
		}
	}
}

uint32_t odl_port_rx_capacity(void)
{
	return RX_CAPACITY;
}

uint32_t odl_port_rx_overruns(void)
{
	return 0u;
}

bool posix_pty_ready(void)
{
	return master >= 0;
}

static int write_link(const char *link_path)
{
	char tmp[4096];
	int len = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", link_path, (long)getpid());

	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		fprintf(stderr, "odl posix: --pty-link path too long\n");
		return -1;
	}
	FILE *f = fopen(tmp, "w");

	if (f == NULL) {
		fprintf(stderr, "odl posix: cannot write %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	int bad = fprintf(f, "%s\n", slave_path) < 0;

	bad |= fclose(f) != 0;
	/* rename() is atomic: a reader sees no file or the whole path. */
	if (bad || rename(tmp, link_path) != 0) {
		fprintf(stderr, "odl posix: cannot write %s: %s\n", link_path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Adopt the master a reset passed on; returns 1 if there was one. */
static int adopt_inherited(void)
{
	const char *env = getenv(ENV_PTY);
	int fd, st, srv;

	if (env == NULL) {
		return 0;
	}
	if (sscanf(env, "%d %d %d", &fd, &st, &srv) != 3 || fd < 0 || st < LINK_IDLE ||
	    st > LINK_SESSION) {
		fprintf(stderr, "odl posix: bad %s='%s'\n", ENV_PTY, env);
		return -1;
	}
	unsetenv(ENV_PTY);
	master = fd;
	state = (enum link_state)st;
	served = srv != 0;
	opened_at_ms = now_ms();
	return 1;
}

static int create_pty(void)
{
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
		fprintf(stderr, "odl posix: cannot create a pty: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int posix_pty_setup(const char *link_path, bool hangup_exits)
{
	int one = 1;
	struct termios tio;
	int inherited = adopt_inherited();

	exit_on_hangup = hangup_exits;
	if (inherited < 0 || (inherited == 0 && create_pty() != 0)) {
		return -1;
	}
	const char *name = ptsname(master);

	if (name == NULL || strlen(name) >= sizeof(slave_path)) {
		fprintf(stderr, "odl posix: ptsname: %s\n", strerror(errno));
		return -1;
	}
	strcpy(slave_path, name);

	int flags = fcntl(master, F_GETFL);

	if (flags < 0 || fcntl(master, F_SETFL, flags | O_NONBLOCK) != 0 ||
	    fcntl(master, F_SETFD, FD_CLOEXEC) != 0 || ioctl(master, TIOCPKT, &one) != 0) {
		fprintf(stderr, "odl posix: cannot configure the pty: %s\n", strerror(errno));
		return -1;
	}
	if (inherited == 0) {
		/* Raw mode: termios set on the master apply to the slave, so the
		 * line discipline neither echoes nor translates before the host
		 * configures the port itself. */
		if (tcgetattr(master, &tio) != 0) {
			fatal("tcgetattr pty");
		}
		cfmakeraw(&tio);
		cfsetispeed(&tio, B115200);
		cfsetospeed(&tio, B115200);
		if (tcsetattr(master, TCSANOW, &tio) != 0) {
			fatal("tcsetattr pty");
		}
		/* Open and close the slave once: from now on the master reports
		 * POLLHUP until the host opens it (see the top of this file). */
		int slave = open(slave_path, O_RDWR | O_NOCTTY);

		if (slave < 0) {
			fprintf(stderr, "odl posix: cannot open %s: %s\n", slave_path,
				strerror(errno));
			return -1;
		}
		close(slave);
		/* Drop the status bytes our own tcsetattr produced. */
		while (read(master, packet, sizeof(packet)) > 0) {
		}
	}

	printf("PTY %s\n", slave_path);
	fflush(stdout);
	if (link_path != NULL && write_link(link_path) != 0) {
		return -1;
	}
	return 0;
}

void posix_pty_drain(void)
{
	if (master < 0 || state != LINK_SESSION) {
		return;
	}
	/* The slave's unread input is visible only through a slave fd. While
	 * we hold one the master sees no hangup, hence the time limit. */
	int slave = open(slave_path, O_RDWR | O_NOCTTY | O_NONBLOCK);

	if (slave < 0) {
		return;
	}
	for (int waited = 0; waited < DRAIN_TIMEOUT_MS; waited += DRAIN_POLL_MS) {
		struct pollfd pfd = {.fd = slave, .events = POLLIN};
		int pending = 0;

		/* Written bytes pass through the tty flip buffer, which a kernel
		 * worker moves to the slave's queue later; FIONREAD does not see
		 * them there, but poll() on the slave waits for that worker. */
		(void)poll(&pfd, 1, 0);
		if (ioctl(slave, FIONREAD, &pending) != 0 || pending == 0) {
			break;
		}
		sleep_ms(DRAIN_POLL_MS);
	}
	close(slave);
}

void posix_pty_prepare_exec(void)
{
	char value[64];

	if (master < 0) {
		return;
	}
	/* The new image keeps the same /dev/pts/N: the host's open port
	 * survives the reset like a USB-serial adapter survives an MCU reset. */
	if (fcntl(master, F_SETFD, 0) != 0) {
		fatal("fcntl pty master");
	}
	snprintf(value, sizeof(value), "%d %d %d", master, (int)state, served ? 1 : 0);
	if (setenv(ENV_PTY, value, 1) != 0) {
		fatal("setenv");
	}
}
