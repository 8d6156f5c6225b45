/* SPDX-License-Identifier: Apache-2.0 */
/* path-util.c: directories opened without following symlinks, below ancestors only root can change. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path-util.h"
#include "secure.h"
#include "tests.h"

static char *tmp_path(const char *name) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", test_tmpdir, name) < 0)
                abort();
        return p;
}

static bool is_dir(const char *path) {
        struct stat st;
        return lstat(path, &st) >= 0 && S_ISDIR(st.st_mode);
}

/* Runs a case twice: with openat2() and with the O_NOFOLLOW walk used where the kernel has none. */
#define BOTH_WALKS(body)                                \
        do {                                            \
                for (int _w = 0; _w < 2; _w++) {        \
                        path_use_openat2(_w == 0);      \
                        body;                           \
                }                                       \
                path_use_openat2(true);                 \
        } while (0)

TEST(simplify) {
        char *s = NULL;

        ASSERT_OK(path_simplify("/a//b/./c/", &s));
        ASSERT_STREQ(s, "/a/b/c");
        free(s);
        ASSERT_OK(path_simplify("/", &s));
        ASSERT_STREQ(s, "/");
        free(s);
        ASSERT_OK(path_simplify("//./", &s));
        ASSERT_STREQ(s, "/");
        free(s);
        ASSERT_ERROR(path_simplify("a/b", &s), EINVAL);
        ASSERT_ERROR(path_simplify("/a/../b", &s), EINVAL);
        ASSERT_ERROR(path_simplify("/a/..", &s), EINVAL);
        ASSERT_ERROR(path_simplify("", &s), EINVAL);
}

TEST(open_plain_directory) {
        _cleanup_free_ char *p = tmp_path("plain/a/b");
        _cleanup_free_ char *parent = tmp_path("plain/a");
        struct stat st, fst;

        ASSERT_OK(mkdir_p(p, 0755));
        BOTH_WALKS({
                _cleanup_close_ int fd = -EBADF;
                NsError e = {};
                ASSERT_OK(path_open_dir_safe(p, 0, (uid_t) -1, (gid_t) -1, &fd, &e));
                ASSERT_OK(fstat(fd, &fst));
                ASSERT_OK(stat(p, &st));
                ASSERT_EQ(fst.st_ino, st.st_ino);
                /* An fd that fchmod and fsync accept: not O_PATH. */
                ASSERT_OK(fchmod(fd, 0750));
                ASSERT_OK(fsync(fd));
        });
        /* "/" itself, and a path with doubled slashes and dots. */
        {
                _cleanup_close_ int fd = -EBADF;
                _cleanup_free_ char *odd = NULL;
                ASSERT_OK(path_open_dir_safe("/", 0, (uid_t) -1, (gid_t) -1, &fd, NULL));
                ASSERT_TRUE(asprintf(&odd, "%s//./b/", parent) > 0);
                fd = safe_close(fd);
                ASSERT_OK(path_open_dir_safe(odd, 0, (uid_t) -1, (gid_t) -1, &fd, NULL));
        }
}

TEST(missing_created_or_reported) {
        _cleanup_free_ char *p = tmp_path("new/x/y");
        _cleanup_free_ char *q = tmp_path("new2/x/y");

        BOTH_WALKS({
                _cleanup_close_ int fd = -EBADF;
                NsError e = {};
                ASSERT_ERROR(path_open_dir_safe(_w == 0 ? p : q, 0, (uid_t) -1, (gid_t) -1, &fd, &e), ENOENT);
                ASSERT_CONTAINS(e.message, "does not exist");
                ASSERT_FALSE(is_dir(_w == 0 ? p : q));
                ASSERT_OK(path_open_dir_safe(_w == 0 ? p : q, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, NULL));
                ASSERT_TRUE(is_dir(_w == 0 ? p : q));
        });
        {
                struct stat st;
                ASSERT_OK(stat(p, &st));
                ASSERT_EQ(st.st_mode & 0022, 0);
                ASSERT_EQ(st.st_uid, geteuid());
        }
}

TEST(symlink_refused_anywhere) {
        _cleanup_free_ char *target = tmp_path("sym-target");
        _cleanup_free_ char *link = tmp_path("sym-link");
        _cleanup_free_ char *below = tmp_path("sym-link/sub/dir");
        _cleanup_free_ char *want = NULL;

        ASSERT_OK(mkdir(target, 0700));
        ASSERT_OK(symlink(target, link));
        ASSERT_TRUE(asprintf(&want, "%s is a symbolic link", link) > 0);

        BOTH_WALKS({
                _cleanup_close_ int fd = -EBADF;
                NsError e = {};
                ASSERT_ERROR(path_open_dir_safe(link, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, &e), ELOOP);
                ASSERT_CONTAINS(e.message, "Refusing ");
                ASSERT_CONTAINS(e.message, want);
                e = (NsError) {};
                ASSERT_ERROR(path_open_dir_safe(below, PATH_SAFE_MKDIR | PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1,
                                                &fd, &e), ELOOP);
                ASSERT_CONTAINS(e.message, want);
                ASSERT_TRUE(fd < 0);
        });
        /* Nothing was created through the link. */
        {
                _cleanup_free_ char *sub = tmp_path("sym-target/sub");
                ASSERT_FALSE(is_dir(sub));
        }
}

TEST(not_a_directory) {
        _cleanup_free_ char *f = tmp_path("a-file");
        _cleanup_free_ char *below = tmp_path("a-file/x");
        _cleanup_close_ int fd = -EBADF;
        NsError e = {};
        char buf[512];

        (void) test_write_file("a-file", "x", buf, sizeof(buf));
        ASSERT_ERROR(path_open_dir_safe(f, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, &e), ENOTDIR);
        ASSERT_CONTAINS(e.message, "is not a directory");
        ASSERT_ERROR(path_open_dir_safe(below, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, NULL), ENOTDIR);
}

TEST(relative_or_dotdot_refused) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *up = tmp_path("plain/../plain");
        NsError e = {};

        ASSERT_ERROR(path_open_dir_safe("relative/dir", 0, (uid_t) -1, (gid_t) -1, &fd, &e), EINVAL);
        ASSERT_CONTAINS(e.message, "relative/dir");
        ASSERT_ERROR(path_open_dir_safe(up, 0, (uid_t) -1, (gid_t) -1, &fd, NULL), EINVAL);
}

TEST(writable_ancestors_refused) {
        _cleanup_free_ char *grp = tmp_path("anc-grp"), *grp_sub = tmp_path("anc-grp/sub");
        _cleanup_free_ char *all = tmp_path("anc-all"), *all_sub = tmp_path("anc-all/sub");
        _cleanup_free_ char *sticky = tmp_path("anc-sticky"), *sticky_sub = tmp_path("anc-sticky/sub");
        _cleanup_free_ char *want = NULL;

        ASSERT_OK(mkdir(grp, 0755));
        ASSERT_OK(chmod(grp, 0775));
        ASSERT_OK(mkdir(all, 0755));
        ASSERT_OK(chmod(all, 0777));
        ASSERT_OK(mkdir(sticky, 0755));
        ASSERT_OK(chmod(sticky, 01777));

        BOTH_WALKS({
                _cleanup_close_ int fd = -EBADF;
                NsError e = {};
                free(want);
                ASSERT_TRUE(asprintf(&want, "Refusing %s: %s is writable by group", grp_sub, grp) > 0);
                ASSERT_ERROR(path_open_dir_safe(grp_sub, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, &e), EPERM);
                ASSERT_CONTAINS(e.message, want);
                ASSERT_FALSE(is_dir(grp_sub));

                e = (NsError) {};
                free(want);
                ASSERT_TRUE(asprintf(&want, "Refusing %s: %s is writable by every user", all_sub, all) > 0);
                /* PATH_SAFE_ANY_OWNER relaxes the last directory only, never its ancestors. */
                ASSERT_ERROR(path_open_dir_safe(all_sub, PATH_SAFE_MKDIR | PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1,
                                                &fd, &e), EPERM);
                ASSERT_CONTAINS(e.message, want);
                ASSERT_FALSE(is_dir(all_sub));

                /* Root's sticky directory (like /tmp): others cannot rename what is ours in it. */
                ASSERT_OK(path_open_dir_safe(sticky_sub, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, &fd, NULL));
        });
}

TEST(ancestor_owned_by_other_user_refused) {
        _cleanup_free_ char *home = tmp_path("anc-home"), *sub = tmp_path("anc-home/tls");
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *want = NULL;
        NsError e = {};

        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: ownership not tested)\n");
                return;
        }
        ASSERT_OK(mkdir(home, 0755));
        ASSERT_OK(mkdir(sub, 0755));
        ASSERT_OK(chown(home, 65534, 65534));
        ASSERT_TRUE(asprintf(&want, "Refusing %s: %s is owned by uid 65534", sub, home) > 0);
        BOTH_WALKS({
                e = (NsError) {};
                ASSERT_ERROR(path_open_dir_safe(sub, 0, (uid_t) -1, (gid_t) -1, &fd, &e), EPERM);
                ASSERT_CONTAINS(e.message, want);
                ASSERT_CONTAINS(e.message, "not root");
        });
        /* Even as the files' owner: that user could swap the directory below. */
        ASSERT_ERROR(path_open_dir_safe(sub, 0, 65534, 65534, &fd, NULL), EPERM);
}

TEST(final_directory_owner) {
        _cleanup_free_ char *own = tmp_path("fin-own"), *grp = tmp_path("fin-grp"), *all = tmp_path("fin-all");
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *want = NULL;
        NsError e = {};

        ASSERT_OK(mkdir(own, 0700));
        ASSERT_OK(mkdir(grp, 0700));
        ASSERT_OK(chmod(grp, 0770));
        ASSERT_OK(mkdir(all, 0700));
        ASSERT_OK(chmod(all, 0777));

        /* Writable by the group only when that is the files' group. */
        ASSERT_ERROR(path_open_dir_safe(grp, 0, (uid_t) -1, (gid_t) -1, &fd, &e), EPERM);
        ASSERT_TRUE(asprintf(&want, "Refusing %s: %s is writable by group", grp, grp) > 0);
        ASSERT_CONTAINS(e.message, want);
        ASSERT_OK(path_open_dir_safe(grp, 0, (uid_t) -1, getegid(), &fd, NULL));
        fd = safe_close(fd);
        /* Writable by everyone: never, unless the caller asked for no check of the last one. */
        ASSERT_ERROR(path_open_dir_safe(all, 0, (uid_t) -1, getegid(), &fd, NULL), EPERM);
        ASSERT_OK(path_open_dir_safe(all, PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1, &fd, NULL));
        fd = safe_close(fd);

        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: ownership not tested)\n");
                return;
        }
        /* The datastore's user may own its directory (PostgreSQL's data directory); no one else. */
        ASSERT_OK(chown(own, 65534, 65534));
        ASSERT_OK(path_open_dir_safe(own, 0, 65534, 65534, &fd, NULL));
        fd = safe_close(fd);
        e = (NsError) {};
        ASSERT_ERROR(path_open_dir_safe(own, 0, 1, 1, &fd, &e), EPERM);
        free(want);
        ASSERT_TRUE(asprintf(&want, "Refusing %s: %s is owned by uid 65534", own, own) > 0);
        ASSERT_CONTAINS(e.message, want);
        ASSERT_ERROR(path_open_dir_safe(own, 0, (uid_t) -1, (gid_t) -1, &fd, NULL), EPERM);
        ASSERT_OK(path_open_dir_safe(own, PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1, &fd, NULL));
}

TEST(regular_file_at) {
        _cleanup_free_ char *dir = tmp_path("reg");
        _cleanup_close_ int dfd = -EBADF;
        struct stat st;
        int fd;

        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_OK(path_open_dir_safe(dir, 0, (uid_t) -1, (gid_t) -1, &dfd, NULL));
        ASSERT_OK(mkfifoat(dfd, "fifo", 0600));
        ASSERT_OK(mkdirat(dfd, "subdir", 0700));
        ASSERT_OK(write_file_atomic_at(dfd, "file", "abc", 3, 0600, (uid_t) -1, (gid_t) -1));
        ASSERT_OK(symlinkat("file", dfd, "link"));
        ASSERT_OK(linkat(dfd, "file", dfd, "hard", 0));

        ASSERT_ERROR(path_open_regular_at(dfd, "link", O_RDONLY, &fd, NULL), ELOOP);
        /* A FIFO would block a plain open() for ever. */
        ASSERT_ERROR(path_open_regular_at(dfd, "fifo", O_RDONLY, &fd, NULL), EBADFD);
        ASSERT_ERROR(path_open_regular_at(dfd, "subdir", O_RDONLY, &fd, NULL), EISDIR);
        ASSERT_ERROR(path_open_regular_at(dfd, "missing", O_RDONLY, &fd, NULL), ENOENT);
        ASSERT_OK(path_open_regular_at(dfd, "hard", O_RDONLY, &fd, &st));
        ASSERT_EQ(st.st_nlink, 2);
        ASSERT_TRUE(S_ISREG(st.st_mode));
        safe_close(fd);
}

TEST(write_lands_in_the_checked_directory) {
        _cleanup_free_ char *dir = tmp_path("swap"), *moved = tmp_path("swap.checked"), *victim = tmp_path("victim");
        _cleanup_free_ char *in_moved = tmp_path("swap.checked/tls.key");
        _cleanup_free_ char *in_victim = tmp_path("victim/tls.key");
        _cleanup_close_ int dfd = -EBADF;

        ASSERT_OK(mkdir(dir, 0755));
        ASSERT_OK(mkdir(victim, 0700));
        ASSERT_OK(path_open_dir_safe(dir, 0, (uid_t) -1, (gid_t) -1, &dfd, NULL));
        /* Swapped for a symlink between the check and the write. */
        ASSERT_OK(rename(dir, moved));
        ASSERT_OK(symlink(victim, dir));
        ASSERT_OK(write_file_atomic_at(dfd, "tls.key", "key", 3, 0600, (uid_t) -1, (gid_t) -1));
        ASSERT_OK(access(in_moved, F_OK));
        ASSERT_ERROR(access(in_victim, F_OK) < 0 ? -errno : 0, ENOENT);
}
