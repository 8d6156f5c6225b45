/* SPDX-License-Identifier: Apache-2.0 */
/* The "directory" secret source: <dir>/<secret>/<key>, the layout of a Secret mounted as a volume. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path-util.h"
#include "secret.h"

#define SECRET_VALUE_MAX (1024 * 1024)  /* the API server's own limit on a Secret */

typedef struct DirectorySource {
        SecretSource source;
} DirectorySource;

static const char *root_of(SecretSource *s) {
        return s->config->secrets.directory ?: CONFIG_DEFAULT_SECRETS_DIR;
}

/* For reading, the root is opened as configured (a mounted Secret is a tree of kubelet's symlinks).
 * For writing (format records), root and Secret directory are reached without symlinks below
 * directories only root can change, as every path nodeseal writes to (path-util.h). */
static int open_root(SecretSource *s, bool write, int *ret, NsError *error) {
        const char *root = root_of(s);
        int fd;

        if (write)
                return path_open_dir_safe(root, 0, (uid_t) -1, (gid_t) -1, ret, error);
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return ns_error_set(error, -errno, "Secrets directory %s: %s", root, strerror(errno));
        *ret = fd;
        return 0;
}

static int open_secret_dir(SecretSource *s, const char *secret, bool create, int *ret, NsError *error) {
        const char *root = root_of(s);
        _cleanup_close_ int rfd = -EBADF;
        struct stat st;
        int fd, r;

        r = open_root(s, create, &rfd, error);
        if (r < 0)
                return r;

        if (create && mkdirat(rfd, secret, 0700) < 0 && errno != EEXIST)
                return ns_error_set(error, -errno, "Failed to create %s/%s: %s", root, secret, strerror(errno));

        fd = openat(rfd, secret, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (create ? O_NOFOLLOW : 0));
        if (fd < 0) {
                if (errno == ENOENT)
                        return ns_error_set(error, -ENOENT, "Secret %s not found (no directory %s/%s)",
                                            secret, root, secret);
                return ns_error_set(error, -errno, "Secret %s (%s/%s): %s", secret, root, secret, strerror(errno));
        }
        if (create && (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022))) {
                safe_close(fd);
                return ns_error_set(error, -EPERM, "Refusing to write in %s/%s: not a directory only root can change",
                                    root, secret);
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

static int write_all(int fd, const SecretValue *value) {
        for (size_t done = 0; done < value->size;) {
                ssize_t k = write(fd, value->data + done, value->size - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return fsync(fd) < 0 ? -errno : 0;
}

/* Gives the written file fd its name key with linkat(), which fails if the name exists: of two
 * writers racing, exactly one wins. An unnamed file where the filesystem has them; else a named
 * temporary (9p, some FUSE filesystems), linked then removed. 0, or -errno of the link. */
static int link_new(int dfd, const char *key, const SecretValue *value, NsError *error, const char *secret) {
        _cleanup_close_ int fd = -EBADF;
        char proc[64], tmp[300];
        int r;

        fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) {
                r = write_all(fd, value);
                if (r < 0)
                        return ns_error_set(error, r, "Failed to write key \"%s\" of Secret %s: %s", key, secret, strerror(-r));
                (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
                return linkat(AT_FDCWD, proc, dfd, key, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR)
                return ns_error_set(error, -errno, "Failed to create key \"%s\" of Secret %s: %s", key, secret, strerror(errno));

        (void) snprintf(tmp, sizeof(tmp), ".%s.%08x.new", key, (unsigned) getpid());
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return ns_error_set(error, -errno, "Failed to create key \"%s\" of Secret %s: %s", key, secret, strerror(errno));
        r = write_all(fd, value);
        if (r >= 0)
                r = linkat(dfd, tmp, dfd, key, 0) < 0 ? -errno : 0;
        (void) unlinkat(dfd, tmp, 0);
        if (r < 0 && r != -EEXIST && !ns_error_is_set(error))
                return ns_error_set(error, r, "Failed to store key \"%s\" of Secret %s: %s", key, secret, strerror(-r));
        return r;
}

static int directory_put_if_missing(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                                    SecretValue **ret_stored, NsError *error) {
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = open_secret_dir(s, secret, true, &dfd, error);
        if (r < 0)
                return r;

        r = link_new(dfd, key, value, error, secret);
        if (r < 0 && r != -EEXIST)
                return ns_error_is_set(error) ? r
                                              : ns_error_set(error, r, "Failed to store key \"%s\" of Secret %s: %s", key,
                                                             secret, strerror(-r));
        if (fsync(dfd) < 0)
                return ns_error_set(error, -errno, "Failed to store key \"%s\" of Secret %s: %s", key, secret, strerror(errno));

        return directory_get(s, secret, key, ret_stored, error);
}

const SecretSourceVTable secret_source_directory_vtable = {
        .type = SECRET_SOURCE_DIRECTORY,
        .object_size = sizeof(DirectorySource),
        .get = directory_get,
        .put_if_missing = directory_put_if_missing,
};
