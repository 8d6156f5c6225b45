/* SPDX-License-Identifier: Apache-2.0 */
/* Secret memory, core-dump protection and atomic file writes. */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <libcryptsetup.h>
#include <linux/capability.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "path-util.h"
#include "secure.h"

int secret_value_new(size_t size, SecretValue **ret) {
        SecretValue *v;

        v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        /* crypt_safe_alloc() zeroes, and crypt_safe_free() wipes before it frees. */
        v->data = crypt_safe_alloc(size + 1);
        if (!v->data) {
                free(v);
                return -ENOMEM;
        }
        v->size = size;
        *ret = v;
        return 0;
}

int secret_value_new_copy(const void *data, size_t size, SecretValue **ret) {
        SecretValue *v;
        int r;

        r = secret_value_new(size, &v);
        if (r < 0)
                return r;
        if (size > 0)
                memcpy(v->data, data, size);
        *ret = v;
        return 0;
}

SecretValue *secret_value_free(SecretValue *v) {
        if (!v)
                return NULL;
        crypt_safe_free(v->data);
        free(v);
        return NULL;
}

bool secret_value_equal(const SecretValue *a, const SecretValue *b) {
        unsigned char d = 0;

        if (!a || !b)
                return a == b;
        if (a->size != b->size)
                return false;
        /* Constant time: the comparison must not tell how much of a key matched. */
        for (size_t i = 0; i < a->size; i++)
                d |= a->data[i] ^ b->data[i];
        return d == 0;
}

int random_bytes(void *buf, size_t n) {
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = getrandom(p, n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int secure_process_setup(void) {
        struct rlimit rl = {};

        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        if (setrlimit(RLIMIT_CORE, &rl) < 0)
                return -errno;
        return 0;
}

static bool have_ipc_lock(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return false;
        return d[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK);
}

int secure_memory_lock(void) {
        struct rlimit rl;

        if (!have_ipc_lock() && (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur != RLIM_INFINITY))
                return -EPERM;
        /* MCL_ONFAULT: pages are locked as they are touched, not all at once; thread stacks and
         * reserved arenas stay virtual. Kernels before 4.4 do not know it. */
        if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) >= 0)
                return 0;
        if (errno == EINVAL && mlockall(MCL_CURRENT | MCL_FUTURE) >= 0)
                return 0;
        return -errno;
}

void secure_free(void *p) {
        if (!p)
                return;
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
}

#define WIPE_STACK_BYTES (128 * 1024)

/* No instrumentation: under ASan a sanitized function's array lives on a separate fake stack, and
 * the real one would keep its dead frames. noinline: its frame must lie below the caller's. */
__attribute__((noinline, no_sanitize_address)) void secure_wipe_stack(void) {
        uint8_t buf[WIPE_STACK_BYTES];

        explicit_bzero(buf, sizeof(buf));
        __asm__ __volatile__("" : : "r"(buf) : "memory");
}

void *secure_realloc(void *p, size_t size) {
        size_t old;
        void *n;

        if (!p)
                return malloc(size);
        if (size == 0) {
                secure_free(p);
                return NULL;
        }
        old = malloc_usable_size(p);
        if (size <= old)
                return p;
        /* Never realloc(): it may move the block and free the old one unwiped. */
        n = malloc(size);
        if (!n)
                return NULL;
        memcpy(n, p, old);
        secure_free(p);
        return n;
}

static void *openssl_malloc(size_t size, const char *file, int line) {
        return malloc(size);
}

static void *openssl_realloc(void *p, size_t size, const char *file, int line) {
        return secure_realloc(p, size);
}

static void openssl_free(void *p, const char *file, int line) {
        secure_free(p);
}

int secure_openssl_memory_setup(void) {
        CRYPTO_malloc_fn m;
        CRYPTO_realloc_fn r;
        CRYPTO_free_fn f;

        CRYPTO_get_mem_functions(&m, &r, &f);
        if (f == openssl_free)
                return 0;
        return CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free) == 1 ? 0 : -EBUSY;
}

/* Reads into buf until EOF or until cap bytes are in; the count in *done. */
static int read_until_eof(int fd, uint8_t *buf, size_t cap, size_t *done) {
        *done = 0;
        while (*done < cap) {
                ssize_t k = read(fd, buf + *done, cap - *done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                *done += (size_t) k;
        }
        return 0;
}

int read_secret_fd(int fd, size_t max, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        struct stat st;
        size_t done = 0;
        int r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((size_t) st.st_size > max)
                return -EFBIG;

        r = secret_value_new((size_t) st.st_size, &v);
        if (r < 0)
                return r;

        /* The size can change underneath (a Secret volume is updated through symlink swaps, which
         * we never see half-way, but be careful anyway): read until EOF, never past the buffer. */
        r = read_until_eof(fd, v->data, v->size, &done);
        if (r < 0)
                return r;
        v->size = done;
        *ret = TAKE_PTR(v);
        return 0;
}

int read_secret_file(int dir_fd, const char *path, size_t max, SecretValue **ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_secret_fd(fd, max, ret);
}

int write_full_fd(int fd, const void *data, size_t size) {
        const char *s = data;

        while (size > 0) {
                ssize_t k = write(fd, s, size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return negative_errno();
                s += k;
                size -= (size_t) k;
        }
        return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        for (;;) {
                ssize_t k;

                if (alloc - size < 4096) {
                        size_t n = alloc ? alloc * 2 : 8192;
                        char *p;
                        if (n > max + 1)
                                n = max + 1;
                        if (n <= size)
                                return -EFBIG;
                        p = realloc(buf, n + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = n;
                }
                k = read(fd, buf + size, alloc - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max, ret, ret_size);
}

static int write_all(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                size -= (size_t) k;
        }
        return 0;
}

/* Filesystems without O_TMPFILE: a named temporary file, created exclusively with the final mode,
 * removed again on any failure. */
#define IN_SET_TMPFILE_UNSUPPORTED(e) ((e) == EOPNOTSUPP || (e) == EISDIR || (e) == EINVAL)

static int fill_and_sync(int fd, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid) {
        int r;

        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                return -errno;
        /* fchmod after fchown: chown may clear mode bits, and the umask applied at creation. */
        if (fchmod(fd, mode & 07777) < 0)
                return -errno;
        r = write_all(fd, data, size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

static int temp_name(const char *base, char *buf, size_t n) {
        uint64_t rnd;
        int r;

        r = random_bytes(&rnd, sizeof(rnd));
        if (r < 0)
                return r;
        (void) snprintf(buf, n, ".#%s.%016llx", base, (unsigned long long) rnd);
        return 0;
}

/* Writes data, synced, under a new random temporary name beside base (in ret_tmp): an unnamed file
 * linked in where the filesystem has them, else a named one created O_EXCL. Nothing is replaced. */
static int stage_file_at(int dfd, const char *base, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid,
                         char ret_tmp[static NAME_MAX + 1]) {
        _cleanup_close_ int fd = -EBADF;
        char proc[64];
        int r;

        if (isempty(base) || strchr(base, '/') || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        if (strlen(base) > NAME_MAX - 24)
                return -ENAMETOOLONG;
        r = temp_name(base, ret_tmp, NAME_MAX + 1);
        if (r < 0)
                return r;

        /* O_TMPFILE: the new content has no name until it is complete, so nothing half-written is
         * ever visible and nothing is left behind if we die. Created with the final mode from the
         * start, so a private key is never readable by others, not even for a moment. */
        fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode & 07777);
        if (fd < 0) {
                if (!IN_SET_TMPFILE_UNSUPPORTED(errno))
                        return -errno;
                fd = openat(dfd, ret_tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode & 0700);
                if (fd < 0)
                        return -errno;
                r = fill_and_sync(fd, data, size, mode, uid, gid);
                if (r < 0)
                        (void) unlinkat(dfd, ret_tmp, 0);
                return r;
        }
        r = fill_and_sync(fd, data, size, mode, uid, gid);
        if (r < 0)
                return r;
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        /* linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc path with AT_SYMLINK_FOLLOW does not.
         * The name is new and random (linkat never replaces). */
        if (linkat(AT_FDCWD, proc, dfd, ret_tmp, AT_SYMLINK_FOLLOW) < 0)
                return -errno;
        return 0;
}

int write_files_atomic_at(int dfd, const AtomicFile *files, size_t n) {
        char tmp[8][NAME_MAX + 1];
        size_t staged = 0;
        int r = 0;

        if (n > ELEMENTSOF(tmp))
                return -E2BIG;
        for (; staged < n; staged++) {
                r = stage_file_at(dfd, files[staged].name, files[staged].data, files[staged].size, files[staged].mode,
                                  files[staged].uid, files[staged].gid, tmp[staged]);
                if (r < 0)
                        goto fail;
        }
        /* All written and synced: now only renames, back to back, so a reader that opens the files
         * one after the other finds a mismatched set only in the microseconds between two renames
         * (not across the fsyncs of a second write). renameat replaces the name itself, a symlink
         * planted there included, and follows nothing. */
        for (size_t i = 0; i < n; i++)
                if (renameat(dfd, tmp[i], dfd, files[i].name) < 0) {
                        r = -errno;
                        for (size_t j = i; j < n; j++)
                                (void) unlinkat(dfd, tmp[j], 0);
                        return r;
                }
        if (fsync(dfd) < 0)
                return -errno;
        return 0;
fail:
        for (size_t j = 0; j < staged; j++)
                (void) unlinkat(dfd, tmp[j], 0);
        return r;
}

int write_file_atomic_at(int dfd, const char *base, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid) {
        return write_files_atomic_at(dfd, &(AtomicFile) { base, data, size, mode, uid, gid }, 1);
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *dcopy = NULL, *bcopy = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        dcopy = strdup(path);
        bcopy = strdup(path);
        if (!dcopy || !bcopy)
                return -ENOMEM;
        r = path_open_dir_safe(dirname(dcopy), 0, uid, gid, &dfd, NULL);
        if (r < 0)
                return r;
        return write_file_atomic_at(dfd, basename(bcopy), data, size, mode, uid, gid);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        for (char *s = p + 1; ; s++) {
                if (*s == '/' || *s == '\0') {
                        char c = *s;
                        *s = '\0';
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return -errno;
                        *s = c;
                        if (c == '\0')
                                break;
                }
        }
        return 0;
}

int read_secret_stream(int fd, size_t max, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *buf = NULL;
        size_t done = 0;
        int r;

        /* Into a buffer of the largest size allowed (secret memory), then copied to its size. */
        r = secret_value_new(max + 1, &buf);
        if (r < 0)
                return r;
        r = read_until_eof(fd, buf->data, buf->size, &done);
        if (r < 0)
                return r;
        if (done > max)
                return -EFBIG;
        return secret_value_new_copy(buf->data, done, ret);
}
