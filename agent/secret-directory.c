/* SPDX-License-Identifier: Apache-2.0 */
/* The "directory" secret source: <dir>/<secret>/<key>, the layout of a Secret mounted as a volume. */
#include <fcntl.h>
#include <sys/stat.h>

#include "secret.h"

#define SECRET_VALUE_MAX (1024 * 1024)  /* the API server's own limit on a Secret */

typedef struct DirectorySource {
        SecretSource source;
} DirectorySource;

static const char *root_of(SecretSource *s) {
        return s->config->secrets.directory ?: CONFIG_DEFAULT_SECRETS_DIR;
}

static int open_secret_dir(SecretSource *s, const char *secret, bool create, int *ret, NsError *error) {
        const char *root = root_of(s);
        _cleanup_close_ int rfd = -EBADF;
        int fd;

        rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return ns_error_set(error, -errno, "Secrets directory %s: %m", root);

        if (create && mkdirat(rfd, secret, 0700) < 0 && errno != EEXIST)
                return ns_error_set(error, -errno, "Failed to create %s/%s: %m", root, secret);

        fd = openat(rfd, secret, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return ns_error_set(error, -ENOENT, "Secret %s not found (no directory %s/%s)",
                                            secret, root, secret);
                return ns_error_set(error, -errno, "Secret %s (%s/%s): %m", secret, root, secret);
        }
        *ret = fd;
        return 0;
}

static int directory_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error) {
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = open_secret_dir(s, secret, false, &dfd, error);
        if (r < 0)
                return r;

        /* Follows the ..data symlinks of a mounted Secret: the key names are validated, so a key
         * can only name an entry of this directory. */
        r = read_secret_file(dfd, key, SECRET_VALUE_MAX, ret);
        if (r == -ENOENT)
                return ns_error_set(error, -ENOKEY, "Secret %s has no key \"%s\" (no file %s/%s/%s)",
                                    secret, key, root_of(s), secret, key);
        if (r == -EFBIG)
                return ns_error_set(error, r, "Key \"%s\" of Secret %s is larger than %d bytes", key, secret,
                                    SECRET_VALUE_MAX);
        if (r < 0)
                return ns_error_set(error, r, "Failed to read key \"%s\" of Secret %s (%s/%s/%s): %s", key,
                                    secret, root_of(s), secret, key, strerror(-r));
        return 0;
}

static int directory_put_if_missing(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                                    SecretValue **ret_stored, NsError *error) {
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        char proc[64];
        int r;

        r = open_secret_dir(s, secret, true, &dfd, error);
        if (r < 0)
                return r;

        /* Write an unnamed file, then give it its name with linkat(), which fails if the name exists:
         * of two writers racing, exactly one wins, and both then read back the winner's value. */
        fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return ns_error_set(error, -errno, "Failed to create key \"%s\" of Secret %s: %m", key, secret);
        for (size_t done = 0; done < value->size;) {
                ssize_t k = write(fd, value->data + done, value->size - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return ns_error_set(error, -errno, "Failed to write key \"%s\" of Secret %s: %m", key, secret);
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0)
                return ns_error_set(error, -errno, "Failed to write key \"%s\" of Secret %s: %m", key, secret);

        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, dfd, key, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
                return ns_error_set(error, -errno, "Failed to store key \"%s\" of Secret %s: %m", key, secret);
        if (fsync(dfd) < 0)
                return ns_error_set(error, -errno, "Failed to store key \"%s\" of Secret %s: %m", key, secret);

        return directory_get(s, secret, key, ret_stored, error);
}

const SecretSourceVTable secret_source_directory_vtable = {
        .type = SECRET_SOURCE_DIRECTORY,
        .object_size = sizeof(DirectorySource),
        .get = directory_get,
        .put_if_missing = directory_put_if_missing,
};
