/*
 * A program outside the project that uses the installed evio: built once through
 * pkg-config and once through find_package(evio CONFIG) (shared and static), by
 * test_install.sh. It checks the version and runs a server until `serving` says shutdown.
 */
#include <evio.h>

#include <stdio.h>
#include <string.h>

static evio_action on_serving(evio_server *srv, void *udata) {
    char *text = udata;
    if (evio_server_addr_string(srv, 0, text, 128) <= 0)
        text[0] = '\0';
    return EVIO_SHUTDOWN;
}

int main(void) {
    if (evio_version() != EVIO_VERSION) {
        fprintf(stderr, "consumer: header version %d, library version %d\n", EVIO_VERSION,
                evio_version());
        return 1;
    }
    char text[128] = "";
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = text;
    ev.serving = on_serving;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    int r = evio_serve(&ev, addrs, 1);
    if (r != 0) {
        fprintf(stderr, "consumer: evio_serve: %d (%s): %s\n", r, evio_strerror(r),
                evio_last_error());
        return 1;
    }
    if (strncmp(text, "tcp://127.0.0.1:", 16) != 0 || strcmp(text, "tcp://127.0.0.1:0") == 0) {
        fprintf(stderr, "consumer: serving saw address '%s'\n", text);
        return 1;
    }
    printf("consumer: evio %s served %s\n", evio_version_string(), text);
    return 0;
}
