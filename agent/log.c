/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr in journald or JSON form. */
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#include "json-util.h"

#include "log.h"
#include "string-table.h"
#include "time-util.h"

static LogFormat log_format = LOG_FORMAT_TEXT;
static int log_max_level = LOG_INFO;

DEFINE_STRING_TABLE(log_format, LogFormat, LOG_FORMAT,
                    [LOG_FORMAT_JOURNAL] = "journal",
                    [LOG_FORMAT_TEXT] = "text",
                    [LOG_FORMAT_JSON] = "json");

/* Syslog levels are ints, not an enum: the same table, with "err" (syslog's own name) also read. */
static const char * const log_level_table[LOG_DEBUG + 1] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "error",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

const char *log_level_to_string(int level) {
        if (level < 0 || level >= (int) ELEMENTSOF(log_level_table))
                return NULL;
        return log_level_table[level];
}

int log_level_from_string(const char *s) {
        int i;

        if (s && streq(s, "err"))
                return LOG_ERR;
        i = string_table_lookup(log_level_table, ELEMENTSOF(log_level_table), s);
        return i < 0 ? -EINVAL : i;
}

void log_set_format(LogFormat f) {
        log_format = f;
}

LogFormat log_get_format(void) {
        return log_format;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

/* NODESEAL_LOG_LEVEL, whatever the format: a level name as --log-level takes it. */
static void log_level_from_environment(void) {
        const char *e = getenv("NODESEAL_LOG_LEVEL");
        int level = log_level_from_string(e);

        if (level >= 0)
                log_max_level = level;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        /* systemd sets JOURNAL_STREAM to "dev:inode" of the stream it connected to stderr. */
        return e && fstat(STDERR_FILENO, &st) >= 0 && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
               dev == st.st_dev && ino == st.st_ino;
}

void log_setup_default(void) {
        if (stderr_is_journal())
                log_format = LOG_FORMAT_JOURNAL;
        else
                log_format = isatty(STDERR_FILENO) ? LOG_FORMAT_TEXT : LOG_FORMAT_JOURNAL;
        log_level_from_environment();
}

static void write_json(int level, int error, const char *file, int line, const char *func, const char *msg) {
        _cleanup_(cJSON_Deletep) cJSON *o = NULL;
        _cleanup_free_ char *s = NULL;
        char when[ISO8601_TIME_MAX];

        (void) format_iso8601_usec(now_usec(CLOCK_REALTIME), true, when, sizeof(when));

        o = cJSON_CreateObject();
        if (!o)
                return;
        cJSON_AddStringToObject(o, "time", when);
        cJSON_AddStringToObject(o, "level", log_level_table[level & LOG_PRIMASK]);
        cJSON_AddNumberToObject(o, "priority", level & LOG_PRIMASK);
        cJSON_AddStringToObject(o, "message", msg);
        if (error != 0)
                cJSON_AddNumberToObject(o, "errno", error < 0 ? -error : error);
        if (log_max_level >= LOG_DEBUG) {
                cJSON_AddStringToObject(o, "code_file", file);
                cJSON_AddNumberToObject(o, "code_line", line);
                cJSON_AddStringToObject(o, "code_func", func);
        }
        s = cJSON_PrintUnformatted(o);
        if (s)
                fprintf(stderr, "%s\n", s);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char msg[2048];
        int saved = errno;
        va_list ap;

        if (error > 0)
                error = -error;

        if ((level & LOG_PRIMASK) > log_max_level)
                return error;

        /* Let "%m" print the error we were given, not whatever errno holds. */
        errno = error < 0 ? -error : saved;
        va_start(ap, format);
        (void) vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);

        switch (log_format) {
        case LOG_FORMAT_JSON:
                write_json(level, error, file, line, func, msg);
                break;
        case LOG_FORMAT_JOURNAL:
                fprintf(stderr, "<%d>%s\n", level & LOG_PRIMASK, msg);
                break;
        default:
                fprintf(stderr, "%s\n", msg);
                break;
        }

        errno = saved;
        return error;
}
