/*
 * The public header compiles as strict C99 (-std=c99 -pedantic-errors -Wall -Wextra
 * -Werror) and its macros work there.
 */
#include <evio.h>

#include <stdio.h>
#include <string.h>

int main(void) {
    evio_events ev = EVIO_EVENTS_INIT;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    char want[32];
    if (ev.size != sizeof(evio_events) || ev.udata != NULL || ev.num_loops != 0 ||
        ev.serving != NULL || ev.tick != NULL) {
        fprintf(stderr, "EVIO_EVENTS_INIT does not set size and zero the rest\n");
        return 1;
    }
    if (is.buf != NULL || is.len != 0 || is.cap != 0) {
        fprintf(stderr, "EVIO_INPUT_STREAM_INIT is not empty\n");
        return 1;
    }
    if (EVIO_VERSION != EVIO_VERSION_MAJOR * 10000 + EVIO_VERSION_MINOR * 100 + EVIO_VERSION_PATCH ||
        evio_version() != EVIO_VERSION) {
        fprintf(stderr, "version mismatch: header %d, library %d\n", EVIO_VERSION, evio_version());
        return 1;
    }
    sprintf(want, "%d.%d.%d", EVIO_VERSION_MAJOR, EVIO_VERSION_MINOR, EVIO_VERSION_PATCH);
    if (evio_version_string() == NULL || strcmp(evio_version_string(), want) != 0) {
        fprintf(stderr, "evio_version_string() is '%s', want '%s'\n",
                evio_version_string() ? evio_version_string() : "(null)", want);
        return 1;
    }
    return 0;
}
