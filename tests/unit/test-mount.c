/* SPDX-License-Identifier: Apache-2.0 */
/* mount.c: option parsing, mountinfo lookups, holders of a mount. */
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount.h"
#include "tests.h"

TEST(options_parse) {
        unsigned long flags;
        char *data = NULL;

        ASSERT_OK(mount_options_parse("defaults", &flags, &data));
        ASSERT_EQ(flags, 0);
        ASSERT_TRUE(data == NULL);

        ASSERT_OK(mount_options_parse("noatime,nodev,data=ordered,nosuid,commit=30", &flags, &data));
        ASSERT_EQ(flags, MS_NOATIME | MS_NODEV | MS_NOSUID);
        ASSERT_STREQ(data, "data=ordered,commit=30");
        free(data);

        /* Later words win, as with mount(8). */
        ASSERT_OK(mount_options_parse("ro,rw,noexec,exec,ro", &flags, &data));
        ASSERT_EQ(flags, MS_RDONLY);
        ASSERT_TRUE(data == NULL);

        ASSERT_OK(mount_options_parse(NULL, &flags, &data));
        ASSERT_EQ(flags, 0);
}

TEST(mountinfo_parse_line) {
        char *mount_point, *fstype;
        dev_t dev;
        char l1[] = "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
        char l2[] = "140 22 0:45 / /mnt/with\\040space\\011tab\\134 rw shared:80 master:2 - tmpfs tmpfs rw\n";
        char l3[] = "143 22 0:48 / /mnt/not\\8\\04\\x rw - tmpfs none rw";
        char l4[] = "39 35 98:0 /root /mnt4 rw,noatime -\n";
        char l5[] = "40 35 98 /root /mnt5 rw - ext3 /dev/root rw\n";
        char l6[] = "41 35 98:0 /root /mnt6 rw a b c d e f g h i j - ext3 /dev/root rw\n";
        char l7[] = "\n";

        ASSERT_OK(mount_info_parse_line(l1, &dev, &mount_point, &fstype));
        ASSERT_EQ(dev, makedev(98, 0));
        ASSERT_STREQ(mount_point, "/mnt");
        ASSERT_STREQ(fstype, "ext3");

        /* Space, tab and backslash come escaped; anything that is not \ooo stays as it is. */
        ASSERT_OK(mount_info_parse_line(l2, &dev, &mount_point, &fstype));
        ASSERT_EQ(dev, makedev(0, 45));
        ASSERT_STREQ(mount_point, "/mnt/with space\ttab\\");
        ASSERT_STREQ(fstype, "tmpfs");
        ASSERT_OK(mount_info_parse_line(l3, &dev, &mount_point, &fstype));
        ASSERT_STREQ(mount_point, "/mnt/not\\8\\04\\x");
        ASSERT_STREQ(fstype, "tmpfs");

        /* No type after "-", no major:minor, the "-" beyond the 16 fields read, an empty line. */
        ASSERT_ERROR(mount_info_parse_line(l4, &dev, &mount_point, &fstype), EBADMSG);
        ASSERT_ERROR(mount_info_parse_line(l5, &dev, &mount_point, &fstype), EBADMSG);
        ASSERT_ERROR(mount_info_parse_line(l6, &dev, &mount_point, &fstype), EBADMSG);
        ASSERT_ERROR(mount_info_parse_line(l7, &dev, &mount_point, &fstype), EBADMSG);
}

TEST(find_mounts) {
        struct stat st;
        char *fstype = NULL;
        dev_t dev;

        ASSERT_OK(mount_find("/proc", &dev, &fstype));
        ASSERT_STREQ(fstype, "proc");
        free(fstype);
        fstype = NULL;

        ASSERT_OK(mount_find("/", &dev, &fstype));
        ASSERT_OK(stat("/", &st));
        /* The root's mountinfo device is what stat() reports for files on it. */
        ASSERT_EQ(dev, st.st_dev);
        free(fstype);

        /* A plain directory is no mount point, even though a path lookup works. */
        ASSERT_ERROR(mount_find(test_tmpdir, &dev, NULL), ENOENT);
        ASSERT_ERROR(mount_find("/proc/self", &dev, NULL), ENOENT);
}

TEST(holders_named) {
        char dir[512], buf[512], want[64];
        struct stat st;
        pid_t pid;
        int p[2];

        /* A private tmpfs that only a child uses: it must be named, and nothing else. Needs root. */
        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: holders case not run)\n");
                return;
        }
        snprintf(dir, sizeof(dir), "%s/holders", test_tmpdir);
        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_OK(mount("tmpfs", dir, "tmpfs", 0, "size=1m"));
        ASSERT_OK(stat(dir, &st));
        ASSERT_OK(pipe(p));
        pid = fork();
        if (pid == 0) {
                char c;
                if (chdir(dir) < 0)
                        _exit(1);
                close(p[1]);
                if (read(p[0], &c, 1) < 0)
                        _exit(1);
                _exit(0);
        }
        close(p[0]);
        usleep(100 * 1000);
        mount_describe_holders(st.st_dev, buf, sizeof(buf));
        snprintf(want, sizeof(want), "pid %d (", (int) pid);
        close(p[1]);
        waitpid(pid, NULL, 0);
        ASSERT_OK(umount2(dir, 0));
        ASSERT_CONTAINS(buf, want);
        ASSERT_TRUE(strstr(buf, ", ") == NULL);
        mount_describe_holders(st.st_dev, buf, sizeof(buf));
        ASSERT_STREQ(buf, "");
}

TEST(mkfs_on_image) {
        char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/fs.img", test_tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(ftruncate(fd, 16 * 1024 * 1024));
        close(fd);
        ASSERT_OK(mount_mkfs(path, FILESYSTEM_EXT4, "a-very-long-volume-name", NULL));
        NsError e = {};
        ASSERT_ERROR(mount_mkfs("/nonexistent/dev", FILESYSTEM_EXT4, "x", &e), EIO);
        ASSERT_CONTAINS(e.message, "mkfs.ext4 /nonexistent/dev failed");
}

/* Mounts tmpfs at path through mount_device(); a mount that did happen is undone at once, so a
 * failing case leaves nothing mounted under the test directory. */
static int mount_tmpfs(const char *path, const char *undo, NsError *e) {
        int r = mount_device("tmpfs", path, "tmpfs", "size=1m", e);
        if (r >= 0)
                (void) umount2(undo, MNT_DETACH);
        return r;
}

TEST(mountpoint_symlink_refused) {
        char target[512], link[512], below[512], want[600];
        NsError e = {};

        snprintf(target, sizeof(target), "%s/mnt-target", test_tmpdir);
        snprintf(link, sizeof(link), "%s/mnt-link", test_tmpdir);
        snprintf(below, sizeof(below), "%s/mnt-link/sub", test_tmpdir);
        ASSERT_OK(mkdir(target, 0755));
        snprintf(want, sizeof(want), "%s/sub", target);
        ASSERT_OK(mkdir(want, 0755));
        ASSERT_OK(symlink(target, link));

        /* Refused before mount(2) is tried: the same answer as root or not. */
        ASSERT_ERROR(mount_tmpfs(link, target, &e), ELOOP);
        snprintf(want, sizeof(want), "%s is a symbolic link", link);
        ASSERT_CONTAINS(e.message, want);
        ASSERT_ERROR(mount_find(target, NULL, NULL), ENOENT);
        e = (NsError) {};
        snprintf(want, sizeof(want), "%s/sub", target);
        ASSERT_ERROR(mount_tmpfs(below, want, &e), ELOOP);
        ASSERT_ERROR(mount_find(want, NULL, NULL), ENOENT);
}

TEST(mountpoint_writable_ancestor_refused) {
        char grp[512], sub[512];
        NsError e = {};

        snprintf(grp, sizeof(grp), "%s/mnt-grp", test_tmpdir);
        snprintf(sub, sizeof(sub), "%s/mnt-grp/data", test_tmpdir);
        ASSERT_OK(mkdir(grp, 0755));
        ASSERT_OK(mkdir(sub, 0755));
        ASSERT_OK(chmod(grp, 0777));
        ASSERT_ERROR(mount_tmpfs(sub, sub, &e), EPERM);
        ASSERT_CONTAINS(e.message, "is writable by every user");
        ASSERT_ERROR(mount_find(sub, NULL, NULL), ENOENT);
}

TEST(mountpoint_mounted_through_fd) {
        char dir[512];
        char *fstype = NULL;
        NsError e = {};
        dev_t dev;

        if (geteuid() != 0) {
                fprintf(stderr, "  (not root: mount not tried)\n");
                return;
        }
        /* The mount point itself may belong to anyone (the datastore's user): it is mounted over. */
        snprintf(dir, sizeof(dir), "%s/mnt-ok", test_tmpdir);
        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_OK(chown(dir, 65534, 65534));
        ASSERT_OK(mount_device("tmpfs", dir, "tmpfs", "size=1m", &e));
        /* mountinfo names it by its path, not by the /proc/self/fd/N it was mounted through. */
        ASSERT_OK(mount_find(dir, &dev, &fstype));
        ASSERT_STREQ(fstype, "tmpfs");
        free(fstype);
        ASSERT_OK(umount2(dir, 0));
}
