/* SPDX-License-Identifier: Apache-2.0 */
/* The runner behind tests.h: runs every registered case, reports, exits non-zero on failure. */
#include <ftw.h>
#include <unistd.h>

#include "secure.h"
#include "tests.h"

TestCase *test_cases = NULL;
int test_failed = 0;
const char *test_tmpdir = NULL;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

const char *test_write_file(const char *path, const char *content, char *buf, size_t n) {
        if (path[0] == '/')
                snprintf(buf, n, "%s", path);
        else
                snprintf(buf, n, "%s/%s", test_tmpdir, path);
        if (write_file_atomic(buf, content, strlen(content), 0600, (uid_t) -1, (gid_t) -1) < 0) {
                fprintf(stderr, "cannot write %s\n", buf);
                abort();
        }
        return buf;
}

int main(int argc, char *argv[]) {
        static char tmp[] = "/tmp/nodeseal-test.XXXXXX";
        int failed = 0, passed = 0;

        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                return 1;
        }
        test_tmpdir = tmp;

        for (TestCase *t = test_cases; t; t = t->next) {
                if (argc > 1 && strcmp(argv[1], t->name) != 0)
                        continue;
                test_failed = 0;
                t->func();
                printf("%s %s\n", test_failed ? "FAIL" : "ok  ", t->name);
                if (test_failed)
                        failed++;
                else
                        passed++;
        }
        (void) nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        printf("%d passed, %d failed\n", passed, failed);
        return failed > 0 ? 1 : 0;
}
