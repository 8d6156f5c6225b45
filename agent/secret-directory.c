/* SPDX-License-Identifier: Apache-2.0 */
/* The "directory" secret source: <dir>/<secret>/<key>, as a mounted Secret looks; watched by polling. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path-util.h"
#include "secret.h"

#define SECRET_VALUE_MAX (1024 * 1024)  /* the API server's own limit on a Secret */

/* A directory cannot be watched the way the API server can: its watch looks at the files'
 * metadata every daemon.poll_sec and reports a change when the digest of it moved. */
typedef struct DirectorySource {
        SecretSource source;
        uint64_t stamp;                 /* digest of the watched Secrets' metadata at the last look */
        char **secrets;                 /* the watched Secrets */
        sd_event_source *poll;
        SecretChangedHandler handler;
        void *userdata;
} DirectorySource;

static DirectorySource *DSOURCE(SecretSource *s) {
        return (DirectorySource *) s;
}

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

/* ---- replacing a Secret as a whole (ca-rotate) ---- */

static bool key_in(const char *name, const char * const *keys, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(name, keys[i]))
                        return true;
        return false;
}

/* Removes the files of the directory name under rfd, then the directory (a staging copy, or the
 * old Secret after the exchange). Only plain files are there: both were checked or made so. */
static void remove_tree(int rfd, const char *name) {
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;

        dfd = openat(rfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return;
        d = fdopendir(dfd);
        if (!d)
                return;
        dfd = -EBADF;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
        (void) unlinkat(rfd, name, AT_REMOVEDIR);
}

/* Every key still holds what the caller read (NULL: absent). */
static int check_expected(SecretSource *s, int dfd, const char *secret, const char * const *keys,
                          SecretValue * const *expected, size_t n, NsError *error) {
        for (size_t i = 0; i < n; i++) {
                _cleanup_(secret_value_freep) SecretValue *now = NULL;
                int r = read_secret_file(dfd, keys[i], SECRET_VALUE_MAX, &now);

                if (r < 0 && r != -ENOENT)
                        return ns_error_set(error, r, "Failed to read key \"%s\" of Secret %s: %s", keys[i], secret,
                                            strerror(-r));
                if (!now != !expected[i] || (now && !secret_value_equal(now, expected[i])))
                        return ns_error_set(error, -ESTALE, "Secret %s (%s/%s) changed since it was read (key \"%s\"); "
                                            "nothing written: run the command again", secret, root_of(s), secret, keys[i]);
        }
        return 0;
}

/* The keys of the staging directory tfd: the other files of the Secret as they are, then values. */
static int fill_staging(int dfd, int tfd, const char *secret, const char * const *keys, SecretValue * const *values,
                        size_t n, NsError *error) {
        _cleanup_close_ int lfd = -EBADF;
        struct dirent *de;
        DIR *d;
        int r = 0;

        lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (lfd < 0 || !(d = fdopendir(lfd)))
                return -errno;
        lfd = -EBADF;
        while (r >= 0 && (de = readdir(d))) {
                _cleanup_(secret_value_freep) SecretValue *v = NULL;
                struct stat st;

                if (de->d_name[0] == '.' || key_in(de->d_name, keys, n))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        r = ns_error_set(error, -EMEDIUMTYPE, "Secret %s: %s is not a plain file (a mounted Secret's "
                                         "links?); change the Secret through the API instead", secret, de->d_name);
                else if ((r = read_secret_file(dirfd(d), de->d_name, SECRET_VALUE_MAX, &v)) >= 0)
                        r = link_new(tfd, de->d_name, v, error, secret);
        }
        closedir(d);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (values[i])
                        r = link_new(tfd, keys[i], values[i], error, secret);
        if (r >= 0 && fsync(tfd) < 0)
                r = -errno;
        return r;
}

/* The new Secret is made whole in a staging directory beside the old one, then the two are
 * swapped with one renameat2(RENAME_EXCHANGE): a reader sees the old Secret or the new one, never
 * half of each file set. Writers are serialized with a lock on the root and compare what they
 * read first (expected); a kill before the swap leaves a staging directory (root's, 0700) that
 * the next run removes. */
static int directory_replace(SecretSource *s, const char *secret, const char * const *keys, SecretValue * const *expected,
                             SecretValue * const *values, size_t n, NsError *error) {
        _cleanup_close_ int rfd = -EBADF, dfd = -EBADF, tfd = -EBADF;
        char staging[300];
        struct stat st;
        int r;

        r = open_root(s, true, &rfd, error);
        if (r < 0)
                return r;
        if (flock(rfd, LOCK_EX) < 0)
                return ns_error_set(error, -errno, "Failed to lock %s: %s", root_of(s), strerror(errno));

        dfd = openat(rfd, secret, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return ns_error_set(error, -errno, "Secret %s (%s/%s): %s", secret, root_of(s), secret, strerror(errno));
        if (fstat(dfd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 0022))
                return ns_error_set(error, -EPERM, "Refusing to write in %s/%s: not a directory only root can change",
                                    root_of(s), secret);
        r = check_expected(s, dfd, secret, keys, expected, n, error);
        if (r < 0)
                return r;

        (void) snprintf(staging, sizeof(staging), ".%s.staging", secret);
        remove_tree(rfd, staging);
        if (mkdirat(rfd, staging, 0700) < 0)
                return ns_error_set(error, -errno, "Failed to create %s/%s: %s", root_of(s), staging, strerror(errno));
        tfd = openat(rfd, staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = tfd < 0 ? -errno : fill_staging(dfd, tfd, secret, keys, values, n, error);
        if (r >= 0 && renameat2(rfd, staging, rfd, secret, RENAME_EXCHANGE) < 0)
                r = -errno;
        if (r < 0) {
                remove_tree(rfd, staging);
                return ns_error_is_set(error) ? r : ns_error_set(error, r, "Failed to replace Secret %s (%s/%s): %s",
                                                                 secret, root_of(s), secret, strerror(-r));
        }
        (void) fsync(rfd);
        /* The old Secret, now under the staging name: its keys are not needed any more. */
        remove_tree(rfd, staging);
        (void) fsync(rfd);
        return 0;
}

static int directory_remove_key_if(SecretSource *s, const char *secret, const char *key, const SecretValue *expected,
                                   NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *now = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = open_secret_dir(s, secret, false, &dfd, error);
        if (r < 0)
                return r;
        r = directory_get(s, secret, key, &now, error);
        if (r < 0)
                return r;
        if (!secret_value_equal(now, expected))
                return ns_error_set(error, -ESTALE, "Key \"%s\" of Secret %s changed; it is left as it is", key, secret);
        if (unlinkat(dfd, key, 0) < 0)
                return ns_error_set(error, -errno, "Failed to remove key \"%s\" of Secret %s: %s", key, secret,
                                    strerror(errno));
        if (fsync(dfd) < 0)
                return ns_error_set(error, -errno, "Failed to remove key \"%s\" of Secret %s: %s", key, secret,
                                    strerror(errno));
        return 0;
}

/* ---- change detection ---- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* A digest of what a directory Secret looks like from outside: names, inodes, sizes and times of
 * its entries (following the ..data symlink a mounted Secret swaps). Contents are never read here. */
static uint64_t secret_stamp(const char *root, const char *secret, uint64_t h) {
        _cleanup_free_ char *dir = NULL;
        DIR *d;
        struct dirent *de;

        if (asprintf(&dir, "%s/%s", root, secret) < 0)
                return h;
        h = fnv1a(h, dir, strlen(dir) + 1);
        d = opendir(dir);
        if (!d)
                return fnv1a(h, "-", 1);
        while ((de = readdir(d))) {
                struct stat st;
                uint64_t v[5];

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                v[0] = st.st_ino;
                v[1] = (uint64_t) st.st_size;
                v[2] = (uint64_t) st.st_mtim.tv_sec * 1000000000u + (uint64_t) st.st_mtim.tv_nsec;
                v[3] = (uint64_t) st.st_ctim.tv_sec * 1000000000u + (uint64_t) st.st_ctim.tv_nsec;
                v[4] = st.st_mode;
                /* readdir order is stable for an unchanged directory; XOR keeps it order-free anyway. */
                h ^= fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), de->d_name, strlen(de->d_name)), v, sizeof(v));
        }
        closedir(d);
        return h;
}

static uint64_t secrets_stamp(SecretSource *s, char * const *secrets) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (char * const *name = secrets; name && *name; name++)
                h = secret_stamp(root_of(s), *name, h);
        return h;
}

static char **copy_names(char * const *l) {
        size_t n = 0;
        char **c;

        while (l[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (!(c[i] = strdup(l[i])))
                        return strv_free(c);
        return c;
}

static void directory_snapshot(SecretSource *s, char * const *secrets) {
        DSOURCE(s)->stamp = secrets_stamp(s, secrets);
}

static int on_poll(sd_event_source *es, uint64_t usec, void *userdata) {
        DirectorySource *d = userdata;
        uint64_t h = secrets_stamp(&d->source, d->secrets);

        (void) sd_event_source_set_time_relative(es, d->source.config->daemon.poll_usec);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ON);
        if (h == d->stamp)
                return 0;
        d->stamp = h;
        /* One digest for all: the change is reported for the first Secret, which the handler
         * takes as "the Secrets changed". */
        return d->handler(&d->source, d->secrets[0], d->userdata);
}

static int directory_watch(SecretSource *s, sd_event *event, char * const *secrets, SecretChangedHandler handler,
                           void *userdata, NsError *error) {
        DirectorySource *d = DSOURCE(s);
        int r;

        if (d->poll)
                return ns_error_set(error, -EBUSY, "The directory secret source is already watching");
        if (!secrets || !secrets[0])
                return 0;
        d->secrets = copy_names(secrets);
        if (!d->secrets)
                return -ENOMEM;
        d->handler = handler;
        d->userdata = userdata;
        /* The digest to compare with is the snapshot taken before the worker read the files. */
        r = sd_event_add_time_relative(event, &d->poll, CLOCK_MONOTONIC, s->config->daemon.poll_usec, 0, on_poll, d);
        if (r < 0)
                return ns_error_set(error, r, "Failed to set up polling of %s: %s", root_of(s), strerror(-r));
        (void) sd_event_source_set_enabled(d->poll, SD_EVENT_ON);
        return 0;
}

static void directory_done(SecretSource *s) {
        DirectorySource *d = DSOURCE(s);

        d->poll = sd_event_source_disable_unref(d->poll);
        strv_free(d->secrets);
        d->secrets = NULL;
}

const SecretSourceVTable secret_source_directory_vtable = {
        .type = SECRET_SOURCE_DIRECTORY,
        .object_size = sizeof(DirectorySource),
        .get = directory_get,
        .done = directory_done,
        .put_if_missing = directory_put_if_missing,
        .remove_key_if = directory_remove_key_if,
        .snapshot = directory_snapshot,
        .watch = directory_watch,
        .replace = directory_replace,
};
