/*
 * stress.c — see stress.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "stress.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

int stress_fd_count(pid_t pid) {
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/fd");
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return pid ? n : n - 1; /* not the descriptor opendir() used */
}

int stress_settled_fd_count(pid_t server, const struct sockaddr *to, socklen_t len, int loops) {
    int probe[64], n = 0, count = -1;
    if (loops > 64)
        return -1;
    for (; n < loops; n++) {
        char b = 'p', e = 0;
        probe[n] = ts_connect(to, len);
        if (probe[n] < 0)
            goto done;
        if (ts_write_all(probe[n], &b, 1) != 0 || ts_read_full(probe[n], &e, 1) != 0 || e != b) {
            n++;
            goto done;
        }
    }
    count = stress_fd_count(server);
done:
    for (int i = 0; i < n; i++)
        if (probe[i] >= 0)
            close(probe[i]);
    return count;
}

void stress_fd_list(FILE *to, const char *title) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    fprintf(to, "%s:", title);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
            continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(to, " %s=%s", e->d_name, target);
    }
    fprintf(to, "\n");
    closedir(d);
}

static FILE *proc_file(pid_t pid, const char *name) {
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    else
        snprintf(path, sizeof path, "/proc/self/%s", name);
    return fopen(path, "r");
}

long stress_rss_kib(pid_t pid) {
    FILE *f = proc_file(pid, "status");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int64_t stress_cpu_ns(pid_t pid) {
    FILE *f = proc_file(pid, "stat");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name, which may hold blanks */
    unsigned long long utime, stime;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (int64_t)((utime + stime) * (1000000000ULL / (unsigned long long)hz));
}

struct sockaddr_in stress_loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int stress_connect_from(const struct sockaddr_in *to, int source) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in from = stress_loopback(0);
    from.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)source);
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        ts_set_timeouts(fd, TS_IO_TIMEOUT_MS) != 0 ||
        bind(fd, (struct sockaddr *)&from, sizeof from) != 0)
        goto fail;
    while (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0)
        if (errno != EINTR)
            goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

/* ---- example servers as child processes ------------------------------------------------- */

/* Reads one line from the child's stdout within the wait timeout. */
static int read_line(int fd, char *line, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        if (ts_wait_readable(fd, TS_WAIT_TIMEOUT_MS) != 1)
            return -1;
        ssize_t k = read(fd, line + n, 1);
        if (k <= 0)
            return -1;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    return 0;
}

int stress_child_start(stress_child *c, const char *path, const char *address) {
    memset(c, 0, sizeof *c);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        execl(path, path, address, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    c->out = out[0];
    char line[512];
    const char *at;
    if (read_line(c->out, line, sizeof line) != 0 || !(at = strstr(line, "serving on ")))
        return -1;
    sscanf(at + strlen("serving on "), "%255s", c->addr);
    const char *colon = strrchr(c->addr, ':');
    c->port = colon ? atoi(colon + 1) : 0;
    return c->port > 0 ? 0 : -1;
}

int stress_child_alive(stress_child *c, int *status) {
    int st = 0;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == 0)
        return 1;
    if (status)
        *status = st;
    return 0;
}

int stress_child_stop(stress_child *c) {
    int st = 0;
    if (c->pid <= 0)
        return -1;
    kill(c->pid, SIGTERM);
    int64_t deadline = ts_now_ns() + (int64_t)TS_WAIT_TIMEOUT_MS * 1000000;
    pid_t r;
    while ((r = waitpid(c->pid, &st, WNOHANG)) == 0 && ts_now_ns() < deadline) {
        struct timespec pause = {0, 10 * 1000000L}; /* polling for an exit, bounded */
        nanosleep(&pause, NULL);
    }
    if (r == 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &st, 0);
        st = -1;
    }
    close(c->out);
    c->pid = 0;
    return r > 0 ? st : -1;
}

long stress_read_to_end(int fd, char *buf, size_t max) {
    char sink[65536];
    long total = 0;
    for (;;) {
        size_t room = (size_t)total < max ? max - (size_t)total : 0;
        char *to = room ? buf + total : sink;
        ssize_t k = recv(fd, to, room ? room : sizeof sink, 0);
        if (k == 0)
            return total;
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECONNRESET ? total : -1;
        }
        total += k;
    }
}
