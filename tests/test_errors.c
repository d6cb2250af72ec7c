/*
 * The error codes, as the one list in <evio.h> (EVIO_ERRNO_MAP) defines them.
 *
 * - Every row's enumerator EVIO_<NAME> has the row's value, and evio_strerror() of it is
 *   the row's text, word for word; the texts are distinct and none is the text of an
 *   unknown code.
 * - Every value is negative, distinct, and (on Linux) the errno of the same name, negated:
 *   EVIO_EPERM == -EPERM, and so on.
 * - evio_strerror() of a code that is not in the list (every other value from -4096 to
 *   4096, and extremes) is never NULL or empty and is no row's text; of 0 it is "success".
 */
#include "ts.h"

#include <limits.h>

struct row {
    const char *name;
    int value;
    int enumerator; /* EVIO_<NAME>, the enum the header makes from the row */
    int sys_errno;  /* <NAME> from <errno.h> */
    const char *text;
};

#define ROW(name, value, text) {#name, value, EVIO_##name, name, text},
static const struct row rows[] = {EVIO_ERRNO_MAP(ROW)};
#undef ROW
static const size_t nrows = sizeof rows / sizeof rows[0];

static int in_list(int code) {
    for (size_t i = 0; i < nrows; i++)
        if (rows[i].value == code)
            return 1;
    return 0;
}

static void test_texts_are_the_lists(void **s) {
    (void)s;
    assert_true(nrows > 0);
    const char *unknown = evio_strerror(-9999);
    assert_non_null(unknown);
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        if (r->enumerator != r->value)
            fail_msg("EVIO_%s is %d, the list says %d", r->name, r->enumerator, r->value);
        const char *m = evio_strerror(r->value);
        if (!m || strcmp(m, r->text) != 0)
            fail_msg("evio_strerror(EVIO_%s) is '%s', the list says '%s'", r->name,
                     m ? m : "(null)", r->text);
        if (!*m || !strcmp(m, unknown))
            fail_msg("EVIO_%s has the text of an unknown code: '%s'", r->name, m);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m, rows[j].text))
                fail_msg("EVIO_%s and EVIO_%s have the same text '%s'", r->name, rows[j].name,
                         m);
    }
    assert_string_equal(evio_strerror(EVIO_OK), "success");
}

static void test_values_are_negated_linux_errno(void **s) {
    (void)s;
    for (size_t i = 0; i < nrows; i++) {
        const struct row *r = &rows[i];
        if (r->value >= 0)
            fail_msg("EVIO_%s is %d, not negative", r->name, r->value);
        for (size_t j = 0; j < i; j++)
            if (r->value == rows[j].value)
                fail_msg("EVIO_%s and EVIO_%s are both %d", r->name, rows[j].name, r->value);
#if defined(__linux__)
        if (r->value != -r->sys_errno)
            fail_msg("EVIO_%s is %d, but -%s is %d on Linux", r->name, r->value, r->name,
                     -r->sys_errno);
#endif
    }
}

static void check_not_listed(int code) {
    const char *m = evio_strerror(code);
    if (!m || !*m)
        fail_msg("evio_strerror(%d) is %s", code, m ? "empty" : "NULL");
    for (size_t i = 0; i < nrows; i++)
        if (!strcmp(m, rows[i].text))
            fail_msg("evio_strerror(%d) is '%s', the text of EVIO_%s, but %d is not in "
                     "EVIO_ERRNO_MAP",
                     code, m, rows[i].name, code);
}

static void test_other_codes_are_not_listed(void **s) {
    (void)s;
    for (int code = -4096; code <= 4096; code++)
        if (code != 0 && !in_list(code))
            check_not_listed(code);
    static const int odd[] = {INT_MIN, INT_MIN + 1, INT_MAX, -100000, 100000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        check_not_listed(odd[i]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_texts_are_the_lists),
    cmocka_unit_test(test_values_are_negated_linux_errno),
    cmocka_unit_test(test_other_codes_are_not_listed),
};

TS_MAIN(tests)
