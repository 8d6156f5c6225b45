/* SPDX-License-Identifier: Apache-2.0 */
/* log.c: the three formats on stderr, levels, %m, and the error code returned. */
#include <fcntl.h>
#include <sys/stat.h>
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

TEST(level_from_environment_under_journald) {
        struct stat st;
        char stream[64];

        ASSERT_OK(fstat(STDERR_FILENO, &st));
        snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
        setenv("JOURNAL_STREAM", stream, 1);
        setenv("NODESEAL_LOG_LEVEL", "debug", 1);
        log_set_max_level(LOG_INFO);
        log_setup_default();
        ASSERT_EQ(log_get_format(), LOG_FORMAT_JOURNAL);
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);

        setenv("NODESEAL_LOG_LEVEL", "warning", 1);
        log_setup_default();
        ASSERT_EQ(log_get_max_level(), LOG_WARNING);
        setenv("NODESEAL_LOG_LEVEL", "bogus", 1);   /* ignored: the level stays */
        log_setup_default();
        ASSERT_EQ(log_get_max_level(), LOG_WARNING);
        unsetenv("JOURNAL_STREAM");
        unsetenv("NODESEAL_LOG_LEVEL");
        log_set_max_level(LOG_INFO);
}

TEST(level_names) {
        ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("error"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("loud"), -EINVAL);
        ASSERT_STREQ(log_level_to_string(LOG_NOTICE), "notice");
}
