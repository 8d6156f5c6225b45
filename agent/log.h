/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr: journald priority prefixes ("<3>...") or JSON lines for containers. */
#pragma once

#include <syslog.h>

#include "macro.h"

typedef enum LogFormat {
        LOG_FORMAT_JOURNAL,   /* "<N>message", which journald turns into priorities */
        LOG_FORMAT_TEXT,      /* plain text, for a terminal */
        LOG_FORMAT_JSON,      /* one JSON object per line */
        _LOG_FORMAT_MAX,
        _LOG_FORMAT_INVALID = -EINVAL,
} LogFormat;

const char *log_format_to_string(LogFormat f) _pure_;
LogFormat log_format_from_string(const char *s) _pure_;

/* Syslog levels by name: "emerg" .. "debug"; "err" and "error" both name LOG_ERR. */
const char *log_level_to_string(int level) _pure_;
int log_level_from_string(const char *s) _pure_;

void log_set_format(LogFormat f);
LogFormat log_get_format(void);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Picks the journal format when stderr is connected to journald, plain text on a tty. */
void log_setup_default(void);

/* Logs and returns -abs(error) (or 0 when error is 0). A "%m" in format expands to strerror(error). */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, (error), __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, (error), __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
