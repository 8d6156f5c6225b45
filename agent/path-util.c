/* SPDX-License-Identifier: Apache-2.0 */
/* Paths nodeseal writes to or mounts on: resolved without symlinks, below directories only root can change. */
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/syscall.h>

#include "path-util.h"

/* Cleared for good when the kernel says ENOSYS (before 5.6), or by a test. */
static bool openat2_usable = true;

void path_use_openat2(bool use) {
        openat2_usable = use;
}

int path_simplify(const char *path, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t len = 0;

        if (isempty(path) || path[0] != '/')
                return -EINVAL;
        out = malloc(strlen(path) + 2);
        if (!out)
                return -ENOMEM;

        for (const char *p = path; *p;) {
                size_t n;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n == 2 && strneq(p, "..", 2))
                        return -EINVAL;
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        out[len++] = '/';
                        memcpy(out + len, p, n);
                        len += n;
                }
                p += n;
        }
        if (len == 0)
                out[len++] = '/';
        out[len] = '\0';
        *ret = TAKE_PTR(out);
        return 0;
}

static const char *user_name(uid_t uid, char *buf, size_t n) {
        struct passwd pw, *res = NULL;
        char tmp[1024];

        if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
                (void) snprintf(buf, n, "%s", res->pw_name);
        else
                (void) snprintf(buf, n, "no user of that uid");
        return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t n) {
        struct group gr, *res = NULL;
        char tmp[1024];

        if (getgrgid_r(gid, &gr, tmp, sizeof(tmp), &res) == 0 && res)
                (void) snprintf(buf, n, "%s", res->gr_name);
        else
                (void) snprintf(buf, n, "no group of that gid");
        return buf;
}

/* Root, or the user we run as: neither is someone we defend against. */
static bool owner_trusted(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

/* -EPERM, with the reason in why, when others than the owner (and the group gid) can write st. */
static int writable_by_others(const struct stat *st, gid_t gid, char *why, size_t n) {
        char name[256];

        if (st->st_mode & S_IWOTH) {
                (void) snprintf(why, n, "is writable by every user (mode %04o)", (unsigned) (st->st_mode & 07777));
                return -EPERM;
        }
        if ((st->st_mode & S_IWGRP) && st->st_gid != gid) {
                (void) snprintf(why, n, "is writable by group %u (%s) (mode %04o), not root-only", (unsigned) st->st_gid,
                                group_name(st->st_gid, name, sizeof(name)), (unsigned) (st->st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

/* A directory above the last one: only root may change it (a sticky one only lets others add names). */
static int ancestor_unsafe(const struct stat *st, char *why, size_t n) {
        char name[256];

        if (!owner_trusted(st->st_uid)) {
                (void) snprintf(why, n, "is owned by uid %u (%s), not root", (unsigned) st->st_uid,
                                user_name(st->st_uid, name, sizeof(name)));
                return -EPERM;
        }
        if (st->st_mode & S_ISVTX)
                return 0;
        return writable_by_others(st, (gid_t) -1, why, n);
}

/* The last directory: root's, or that of the user (and group) who will own the files in it. */
static int final_unsafe(const struct stat *st, uid_t uid, gid_t gid, char *why, size_t n) {
        char name[256];

        if (!owner_trusted(st->st_uid) && st->st_uid != uid) {
                if (uid == (uid_t) -1)
                        (void) snprintf(why, n, "is owned by uid %u (%s), not root", (unsigned) st->st_uid,
                                        user_name(st->st_uid, name, sizeof(name)));
                else
                        (void) snprintf(why, n, "is owned by uid %u (%s), neither root nor the files' owner (uid %u)",
                                        (unsigned) st->st_uid, user_name(st->st_uid, name, sizeof(name)), (unsigned) uid);
                return -EPERM;
        }
        return writable_by_others(st, gid, why, n);
}

/* The directory name in dir_fd, never through a symlink (name holds no "/" and is not ".."). */
static int openat_dir_nofollow(int dir_fd, const char *name) {
        int fd;

        if (openat2_usable) {
                struct open_how how = {
                        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH,
                };

                fd = (int) syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                /* ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not know openat2.
                 * The O_NOFOLLOW open below is as safe for a single component. */
                if (errno != ENOSYS && errno != EPERM)
                        return -errno;
                if (errno == ENOSYS)
                        openat2_usable = false;
        }
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

static int open_component(int dir_fd, const char *name, bool create) {
        int fd = openat_dir_nofollow(dir_fd, name);

        if (fd == -ENOENT && create) {
                /* Created in a directory that was checked to be root's alone: nobody raced us here. */
                if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
                        return -errno;
                fd = openat_dir_nofollow(dir_fd, name);
        }
        return fd;
}

/* Why the component shown (a prefix of path) could not be opened: what is there, if anything. */
static int component_error(int dir_fd, const char *name, int r, const char *path, const char *shown,
                           NsError *error) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISLNK(st.st_mode))
                        return ns_error_set(error, -ELOOP, "Refusing %s: %s is a symbolic link", path, shown);
                if (!S_ISDIR(st.st_mode))
                        return ns_error_set(error, -ENOTDIR, "Refusing %s: %s is not a directory", path, shown);
        }
        if (r == -ENOENT)
                return ns_error_set(error, r, "%s: %s does not exist", path, shown);
        return ns_error_set(error, r, "Cannot open %s: %s: %s", path, shown, strerror(-r));
}

/* Checks the directory fd, the first len bytes of clean, as an ancestor. */
static int check_ancestor(int fd, const char *clean, size_t len, const char *path, NsError *error) {
        struct stat st;
        char why[512];
        int r;

        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Cannot stat %.*s: %m", (int) len, clean);
        r = ancestor_unsafe(&st, why, sizeof(why));
        if (r < 0)
                return ns_error_set(error, r, "Refusing %s: %.*s %s", path, (int) len, clean, why);
        return 0;
}

/* From "/" down to the last component of clean: *fd ends on the last directory. */
static int walk(int *fd, char *clean, const char *path, PathSafeFlags flags, NsError *error) {
        for (char *s = clean + 1; *s;) {
                char *e = strchrnul(s, '/');
                bool last = *e == '\0';
                int next, r;

                r = check_ancestor(*fd, clean, s - clean > 1 ? (size_t) (s - 1 - clean) : 1, path, error);
                if (r < 0)
                        return r;
                *e = '\0';
                next = open_component(*fd, s, flags & PATH_SAFE_MKDIR);
                if (next < 0)
                        return component_error(*fd, s, next, path, clean, error);
                if (!last)
                        *e = '/';
                safe_close(*fd);
                *fd = next;
                s = last ? e : e + 1;
        }
        return 0;
}

int path_open_dir_safe(const char *path, PathSafeFlags flags, uid_t uid, gid_t gid, int *ret_fd, NsError *error) {
        _cleanup_free_ char *clean = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char why[512];
        int r;

        r = path_simplify(path, &clean);
        if (r == -EINVAL)
                return ns_error_set(error, r, "Refusing %s: not an absolute path free of \"..\"", strempty(path));
        if (r < 0)
                return r;
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return ns_error_set(error, -errno, "Cannot open /: %m");
        r = walk(&fd, clean, path, flags, error);
        if (r < 0)
                return r;

        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Cannot stat %s: %m", path);
        if (!(flags & PATH_SAFE_ANY_OWNER)) {
                r = final_unsafe(&st, uid, gid, why, sizeof(why));
                if (r < 0)
                        return ns_error_set(error, r, "Refusing %s: %s %s", path, clean, why);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int path_open_regular_at(int dir_fd, const char *name, int flags, int *ret_fd, struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* O_NONBLOCK: opening a FIFO planted under this name must not hang us. */
        fd = openat(dir_fd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret_fd = TAKE_FD(fd);
        if (ret_st)
                *ret_st = st;
        return 0;
}
