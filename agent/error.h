/* SPDX-License-Identifier: Apache-2.0 */
/* NsError: a negative errno plus a message that names the thing and the reason. */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* Lower modules return negative errno and, where they know more than the code says (which Secret,
 * which field, what the API server answered), fill an NsError. Only the command layer logs it. */
typedef struct NsError {
        int code;            /* negative errno, 0 if unset */
        char message[1024];
} NsError;

#define NS_ERROR_NULL ((NsError) {})

/* Sets the error (if error is non-NULL and not yet set) and returns -abs(code). */
/* "%m" in format expands to the message of code (not of errno, which is left as it was). */
int ns_error_set(NsError *error, int code, const char *format, ...) _printf_(3, 4);
int ns_error_setv(NsError *error, int code, const char *format, va_list ap) _printf_(3, 0);
/* Like ns_error_set() but overwrites an error already set. */
int ns_error_reset(NsError *error, int code, const char *format, ...) _printf_(3, 4);
/* Prefixes an existing message with context ("Volume pgdata: ..."); sets one if none is set. */
int ns_error_prefix(NsError *error, int code, const char *format, ...) _printf_(3, 4);

static inline bool ns_error_is_set(const NsError *e) {
        return e && e->code != 0;
}

static inline const char *ns_error_message(const NsError *e, int code) {
        if (e && e->code != 0 && e->message[0])
                return e->message;
        return strerror(code < 0 ? -code : code);
}
