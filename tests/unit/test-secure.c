/* SPDX-License-Identifier: Apache-2.0 */
/* Atomic writes, secret values, core-dump protection. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "secure.h"
#include "tests.h"

TEST(atomic_write_replaces_with_mode) {
        char path[512];
        struct stat st;
        char *text = NULL;
        DIR *d;
        struct dirent *de;
        int others = 0;

        snprintf(path, sizeof(path), "%s/key.pem", test_tmpdir);
        ASSERT_OK(write_file_atomic(path, "old", 3, 0644, (uid_t) -1, (gid_t) -1));
        ASSERT_OK(write_file_atomic(path, "new-content", 11, 0600, (uid_t) -1, (gid_t) -1));
        ASSERT_OK(stat(path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_OK(read_full_file(path, 1024, &text, NULL));
        ASSERT_STREQ(text, "new-content");
        free(text);

        /* No temporary file left behind. */
        d = opendir(test_tmpdir);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".#", 2) == 0)
                        others++;
        closedir(d);
        ASSERT_EQ(others, 0);
}

TEST(atomic_write_missing_dir) {
        ASSERT_ERROR(write_file_atomic("/nonexistent-dir/x", "a", 1, 0600, (uid_t) -1, (gid_t) -1), ENOENT);
}

TEST(read_limits) {
        char path[512], *text = NULL;
        SecretValue *v = NULL;

        test_write_file("big", "0123456789", path, sizeof(path));
        ASSERT_ERROR(read_full_file(path, 5, &text, NULL), EFBIG);
        ASSERT_ERROR(read_secret_file(AT_FDCWD, path, 5, &v), EFBIG);
        ASSERT_OK(read_secret_file(AT_FDCWD, path, 10, &v));
        ASSERT_EQ(v->size, 10);
        ASSERT_EQ(v->data[10], 0);
        secret_value_free(v);
        ASSERT_ERROR(read_secret_file(AT_FDCWD, test_tmpdir, 10, &v), EISDIR);
}

TEST(secret_values) {
        SecretValue *a = NULL, *b = NULL;

        ASSERT_OK(secret_value_new_copy("abc", 3, &a));
        ASSERT_OK(secret_value_new_copy("abd", 3, &b));
        ASSERT_FALSE(secret_value_equal(a, b));
        b->data[2] = 'c';
        ASSERT_TRUE(secret_value_equal(a, b));
        ASSERT_TRUE(secret_value_free(a) == NULL);
        secret_value_free(b);
        ASSERT_TRUE(secret_value_free(NULL) == NULL);
}

TEST(process_not_dumpable) {
        struct rlimit rl;

        ASSERT_OK(secure_process_setup());
        ASSERT_EQ(prctl(PR_GET_DUMPABLE), 0);
        ASSERT_OK(getrlimit(RLIMIT_CORE, &rl));
        ASSERT_EQ(rl.rlim_cur, 0);
}

TEST(mkdir_parents) {
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/a/b/c", test_tmpdir);
        ASSERT_OK(mkdir_p(path, 0750));
        ASSERT_OK(stat(path, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(mkdir_p(path, 0750));
}
