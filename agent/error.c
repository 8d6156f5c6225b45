/* SPDX-License-Identifier: Apache-2.0 */
/* NsError helpers. */
#include <stdio.h>

#include "error.h"

static int normalize(int code) {
        if (code == 0)
                return -EIO;
        return code < 0 ? code : -code;
}

int ns_error_setv(NsError *error, int code, const char *format, va_list ap) {
        int saved;

        code = normalize(code);
        if (!error || error->code != 0)
                return code;

        /* "%m" says what code means, not whatever errno holds. */
        saved = errno;
        errno = -code;
        error->code = code;
        (void) vsnprintf(error->message, sizeof(error->message), format, ap);
        errno = saved;
        return code;
}

int ns_error_set(NsError *error, int code, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        code = ns_error_setv(error, code, format, ap);
        va_end(ap);
        return code;
}

int ns_error_reset(NsError *error, int code, const char *format, ...) {
        va_list ap;

        if (error)
                error->code = 0;
        va_start(ap, format);
        code = ns_error_setv(error, code, format, ap);
        va_end(ap);
        return code;
}

int ns_error_prefix(NsError *error, int code, const char *format, ...) {
        char prefix[512], old[sizeof(error->message)];
        va_list ap;

        code = normalize(code);
        if (!error)
                return code;

        va_start(ap, format);
        (void) vsnprintf(prefix, sizeof(prefix), format, ap);
        va_end(ap);

        if (error->code == 0) {
                error->code = code;
                (void) snprintf(error->message, sizeof(error->message), "%s: %s", prefix, strerror(-code));
                return code;
        }

        /* Assemble by hand: the result is cut to the buffer, which is what we want. */
        memcpy(old, error->message, sizeof(old));
        old[sizeof(old) - 1] = '\0';
        {
                size_t n = strlen(prefix), m = strlen(old), cap = sizeof(error->message) - 1;
                size_t k = MIN(n, cap);
                memcpy(error->message, prefix, k);
                if (k + 2 <= cap) {
                        memcpy(error->message + k, ": ", 2);
                        k += 2;
                }
                m = MIN(m, cap - k);
                memcpy(error->message + k, old, m);
                error->message[k + m] = '\0';
        }
        return error->code;
}
