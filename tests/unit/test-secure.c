/* SPDX-License-Identifier: Apache-2.0 */
/* Atomic writes, secret values, core-dump protection. */
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
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

TEST(wiping_allocator) {
        char *p, *q;

        /* Growing copies everything; shrinking keeps the block. */
        p = secure_realloc(NULL, 16);
        ASSERT_TRUE(p != NULL);
        memcpy(p, "0123456789abcde", 16);
        q = secure_realloc(p, 100000);
        ASSERT_TRUE(q != NULL);
        ASSERT_STREQ(q, "0123456789abcde");
        p = secure_realloc(q, 8);
        ASSERT_TRUE(p == q);
        ASSERT_TRUE(secure_realloc(p, 0) == NULL);
        secure_free(NULL);
}

TEST(openssl_memory_wiped) {
        CRYPTO_malloc_fn m;
        CRYPTO_realloc_fn r;
        CRYPTO_free_fn f, before;
        void *p;

        /* Nothing of OpenSSL ran in this program yet: the allocator can still be set, once. */
        CRYPTO_get_mem_functions(&m, &r, &before);
        ASSERT_OK(secure_openssl_memory_setup());
        CRYPTO_get_mem_functions(&m, &r, &f);
        ASSERT_TRUE(f != before);
        ASSERT_OK(secure_openssl_memory_setup());
        p = OPENSSL_malloc(64);
        ASSERT_TRUE(p != NULL);
        OPENSSL_free(p);
}

static unsigned long vm_locked_kib(void) {
        char line[256];
        unsigned long kib = 0;
        FILE *f = fopen("/proc/self/status", "re");

        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "VmLck: %lu kB", &kib) == 1)
                        break;
        if (f)
                fclose(f);
        return kib;
}

TEST(memory_locked) {
        char *p;
        int r;

        r = secure_memory_lock();
        if (r == -EPERM) {
                printf("  (no CAP_IPC_LOCK: refused before trying, as it should be)\n");
                return;
        }
        ASSERT_OK(r);
#if defined(__SANITIZE_ADDRESS__)
        printf("  (AddressSanitizer makes mlockall() a no-op: not checked)\n");
        return;
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
        printf("  (AddressSanitizer makes mlockall() a no-op: not checked)\n");
        return;
#  endif
#endif
        /* On fault: what is touched from now on is locked too. */
        p = malloc(1 << 20);
        ASSERT_TRUE(p != NULL);
        memset(p, 1, 1 << 20);
        ASSERT_TRUE(vm_locked_kib() >= 1024);
        free(p);
        ASSERT_OK(munlockall());
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
