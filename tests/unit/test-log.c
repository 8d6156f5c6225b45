/* SPDX-License-Identifier: Apache-2.0 */
/* log.c: the three formats on stderr, levels, %m, and the error code returned. */
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "tests.h"

/* Runs one log call with stderr sent to a file; returns what was written. */
static const char *capture(LogFormat f, int level, int error, const char *msg) {
        static char buf[4096];
        char path[512];
        int fd, saved;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/log.out", test_tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        saved = dup(2);
        dup2(fd, 2);
        log_set_format(f);
        (void) log_full_errno(level, error, "%s: %m", msg);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        close(fd);
        return buf;
}

TEST(formats) {
        const char *out;

        log_set_max_level(LOG_INFO);
        out = capture(LOG_FORMAT_JOURNAL, LOG_ERR, -ENOENT, "Failed to read x");
        ASSERT_STREQ(out, "<3>Failed to read x: No such file or directory\n");

        out = capture(LOG_FORMAT_TEXT, LOG_WARNING, 0, "careful");
        ASSERT_CONTAINS(out, "careful");
        ASSERT_TRUE(out[0] != '<');

        out = capture(LOG_FORMAT_JSON, LOG_ERR, -EACCES, "quote \" and \\ backslash");
        ASSERT_CONTAINS(out, "\"message\":");
        ASSERT_CONTAINS(out, "quote \\\" and \\\\ backslash: Permission denied");
        ASSERT_CONTAINS(out, "\"priority\":");

        /* Below the level: nothing. */
        out = capture(LOG_FORMAT_JOURNAL, LOG_DEBUG, 0, "hidden");
        ASSERT_STREQ(out, "");
}

TEST(returns_error) {
        log_set_max_level(LOG_EMERG);
        ASSERT_EQ(log_error_errno(-EIO, "x"), -EIO);
        ASSERT_EQ(log_error_errno(EIO, "x"), -EIO);
        ASSERT_EQ(log_full_errno(LOG_INFO, 0, "x"), 0);
}

TEST(format_names) {
        ASSERT_EQ(log_format_from_string("json"), LOG_FORMAT_JSON);
        ASSERT_EQ(log_format_from_string("journal"), LOG_FORMAT_JOURNAL);
        ASSERT_EQ(log_format_from_string("xml"), _LOG_FORMAT_INVALID);
        ASSERT_STREQ(log_format_to_string(LOG_FORMAT_TEXT), "text");
}
