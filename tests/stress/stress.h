/*
 * stress.h — what the stress tests (tests/stress/test_stress_*.c) share beyond
 * support/ts.h: a process's descriptors, memory and CPU time read from /proc, clients that
 * connect from a chosen loopback address, and an example server started as a child
 * process whose address is read from its "serving on" line.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_STRESS_H
#define EVIO_STRESS_H

#include "ts.h"

#include <netinet/in.h>
#include <sys/types.h>

/* Open descriptors of a process (0: this one), counted in /proc/<pid>/fd; -1 on error. */
int stress_fd_count(pid_t pid);
/*
 * The descriptors of the process running a round-robin echo server (`server`; 0: this
 * one) once every loop has finished with the connections before (a socket is closed just
 * after its `closed` callback, on the loop's thread): counted while `loops` probe
 * connections (one per loop) are open and have each had a byte echoed. The count includes
 * the probes: `loops` server sockets, and as many client sockets when the server is this
 * process. -1 on error.
 */
int stress_settled_fd_count(pid_t server, const struct sockaddr *to, socklen_t len, int loops);
/* Print the descriptors of this process and what they are (for a failure message). */
void stress_fd_list(FILE *to, const char *title);
/* Resident memory (VmRSS) of a process (0: this one), in KiB; -1 on error. */
long stress_rss_kib(pid_t pid);
/* User + system CPU time a process (0: this one) has used, in nanoseconds (/proc/<pid>/stat,
 * clock-tick resolution); -1 on error. */
int64_t stress_cpu_ns(pid_t pid);

/* An IPv4 loopback address 127.0.0.1 with `port`. */
struct sockaddr_in stress_loopback(int port);
/*
 * A TCP client of `to` whose source address is 127.0.0.<source> (2..254), with the port
 * chosen at connect time (IP_BIND_ADDRESS_NO_PORT), so many connections in TIME_WAIT do not
 * run out of ports; SO_RCVTIMEO/SO_SNDTIMEO as ts_connect. -1 (errno) on error.
 */
int stress_connect_from(const struct sockaddr_in *to, int source);

/* A server program run as a child process (the examples in <build>/examples). */
typedef struct stress_child {
    pid_t pid;
    int out;        /* its stdout, read end */
    char addr[256]; /* the address of its first "serving on" line, e.g. tcp://127.0.0.1:41234 */
    int port;
} stress_child;

/* Start `path ADDRESS` and wait (TS_WAIT_TIMEOUT_MS) for its "serving on" line. 0 or -1. */
int stress_child_start(stress_child *c, const char *path, const char *address);
/* 1 while the child runs; 0 once it has exited (its status in *status if not NULL). */
int stress_child_alive(stress_child *c, int *status);
/* SIGTERM, then wait (TS_WAIT_TIMEOUT_MS; then SIGKILL). Returns the exit status, or -1. */
int stress_child_stop(stress_child *c);

/* Read until EOF or a reset, at most `max` bytes kept in buf (the rest is read and
 * dropped). Returns the number of bytes read in all, or -1 on a timeout or another error. */
long stress_read_to_end(int fd, char *buf, size_t max);

#endif
