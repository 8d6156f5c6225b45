/* SPDX-License-Identifier: Apache-2.0 */
/* mkfs through posix_spawn, mount(2), mountinfo lookups and the holders of a busy mount. */
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "mount.h"
#include "path-util.h"

extern char **environ;

/* Runs argv (a tool of type's package, on target) and waits for it; an error names it and how it ended. */
static int spawn_wait(const char * const *argv, const char *target, FilesystemType type, NsError *error) {
        pid_t pid;
        int r, status;

        /* posix_spawnp: the tools live in /sbin or /usr/sbin depending on the system's merge. */
        r = posix_spawnp(&pid, argv[0], NULL, NULL, (char **) argv, environ);
        if (r != 0)
                return ns_error_set(error, -r, "Cannot run %s: %s (is %s installed?)", argv[0], strerror(r),
                                    type == FILESYSTEM_XFS ? "xfsprogs" : "e2fsprogs");
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return ns_error_set(error, -errno, "waitpid(%s): %s", argv[0], strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return ns_error_set(error, -EIO, "%s %s failed (%s %d)", argv[0], target,
                                    WIFEXITED(status) ? "exit status" : "signal",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return 0;
}

int mount_mkfs(const char *device, FilesystemType type, const char *label, NsError *error) {
        char lbl[17];
        const char *argv[8];
        size_t n = 0;

        /* ext4 labels hold 16 bytes, xfs labels 12. */
        (void) snprintf(lbl, type == FILESYSTEM_XFS ? 13 : sizeof(lbl), "%s", label);

        switch (type) {
        case FILESYSTEM_EXT4:
                argv[n++] = "mkfs.ext4";
                argv[n++] = "-q";
                argv[n++] = "-L";
                argv[n++] = lbl;
                break;
        case FILESYSTEM_XFS:
                argv[n++] = "mkfs.xfs";
                argv[n++] = "-q";
                argv[n++] = "-L";
                argv[n++] = lbl;
                break;
        default:
                return ns_error_set(error, -EINVAL, "Unknown filesystem type %d", type);
        }
        argv[n++] = device;
        argv[n] = NULL;
        return spawn_wait(argv, device, type, error);
}

int mount_grow_filesystem(const char *device, const char *mountpoint, FilesystemType type, NsError *error) {
        const char *argv[4];

        switch (type) {
        case FILESYSTEM_EXT4:
                /* On a mounted ext4, resize2fs grows it online to the size of the device. */
                argv[0] = "resize2fs";
                argv[1] = device;
                break;
        case FILESYSTEM_XFS:
                /* xfs grows only while mounted, named by its mount point. */
                argv[0] = "xfs_growfs";
                argv[1] = mountpoint;
                break;
        default:
                return ns_error_set(error, -EINVAL, "Unknown filesystem type %d", type);
        }
        argv[2] = NULL;
        return spawn_wait(argv, argv[1], type, error);
}

static const struct {
        const char *name;
        unsigned long set;
        unsigned long clear;
} mount_flags[] = {
        { "defaults", 0, 0 },
        { "rw", 0, MS_RDONLY },
        { "ro", MS_RDONLY, 0 },
        { "nosuid", MS_NOSUID, 0 },
        { "suid", 0, MS_NOSUID },
        { "nodev", MS_NODEV, 0 },
        { "dev", 0, MS_NODEV },
        { "noexec", MS_NOEXEC, 0 },
        { "exec", 0, MS_NOEXEC },
        { "sync", MS_SYNCHRONOUS, 0 },
        { "async", 0, MS_SYNCHRONOUS },
        { "dirsync", MS_DIRSYNC, 0 },
        { "noatime", MS_NOATIME, 0 },
        { "atime", 0, MS_NOATIME },
        { "nodiratime", MS_NODIRATIME, 0 },
        { "relatime", MS_RELATIME, 0 },
        { "norelatime", 0, MS_RELATIME },
        { "strictatime", MS_STRICTATIME, 0 },
        { "lazytime", MS_LAZYTIME, 0 },
};

int mount_options_parse(const char *options, unsigned long *ret_flags, char **ret_data) {
        _cleanup_free_ char *copy = NULL, *data = NULL;
        unsigned long flags = 0;
        size_t len = 0;
        char *save = NULL;

        copy = strdup(strempty(options));
        data = calloc(1, strlen(strempty(options)) + 1);
        if (!copy || !data)
                return -ENOMEM;

        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                bool known = false;

                for (size_t i = 0; i < ELEMENTSOF(mount_flags); i++)
                        if (streq(w, mount_flags[i].name)) {
                                flags = (flags | mount_flags[i].set) & ~mount_flags[i].clear;
                                known = true;
                                break;
                        }
                if (known)
                        continue;
                if (len > 0)
                        data[len++] = ',';
                memcpy(data + len, w, strlen(w));
                len += strlen(w);
        }

        *ret_flags = flags;
        *ret_data = len > 0 ? TAKE_PTR(data) : NULL;
        return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s) {
        char *w = s;

        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
                    p[3] <= '7') {
                        *w++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *w++ = *p;
        }
        *w = '\0';
}

int mount_info_parse_line(char *line, dev_t *ret_dev, char **ret_mount_point, char **ret_fstype) {
        char *fields[16] = {};
        size_t nf = 0, sep = 6;
        char *save = NULL;
        unsigned maj, min;

        /* "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw": optional fields up to
         * the "-", then the filesystem type. */
        for (char *w = strtok_r(line, " \n", &save); w && nf < ELEMENTSOF(fields); w = strtok_r(NULL, " \n", &save))
                fields[nf++] = w;
        if (nf < 7 || sscanf(fields[2], "%u:%u", &maj, &min) != 2)
                return -EBADMSG;
        while (sep < nf && !streq(fields[sep], "-"))
                sep++;
        if (sep + 1 >= nf)
                return -EBADMSG;
        unescape_octal(fields[4]);

        *ret_dev = makedev(maj, min);
        *ret_mount_point = fields[4];
        *ret_fstype = fields[sep + 1];
        return 0;
}

int mount_find(const char *path, dev_t *ret_dev, char **ret_fstype) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL, *fstype = NULL;
        size_t n = 0;
        bool found = false;
        dev_t dev = 0;

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;

        /* The last line for a mount point is the one on top, the one a path lookup reaches. */
        while (getline(&line, &n, f) > 0) {
                char *mount_point, *type;
                dev_t d;

                if (mount_info_parse_line(line, &d, &mount_point, &type) < 0 || !streq(mount_point, path))
                        continue;
                free(fstype);
                fstype = strdup(type);
                if (!fstype)
                        return -ENOMEM;
                dev = d;
                found = true;
        }
        if (!found)
                return -ENOENT;
        if (ret_dev)
                *ret_dev = dev;
        if (ret_fstype)
                *ret_fstype = TAKE_PTR(fstype);
        return 0;
}

int mount_point_open(const char *path, bool create, int *ret_fd, NsError *error) {
        return path_open_dir_safe(path, PATH_SAFE_ANY_OWNER | (create ? PATH_SAFE_MKDIR : 0), (uid_t) -1, (gid_t) -1,
                                  ret_fd, error);
}

int mount_point_create(const char *path, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        return mount_point_open(path, true, &fd, error);
}

int mount_point_find(const char *path, dev_t *ret_dev, char **ret_fstype, NsError *error) {
        _cleanup_free_ char *canonical = NULL;
        _cleanup_close_ int fd = -EBADF;
        NsError e = {};
        int r;

        r = mount_point_open(path, false, &fd, &e);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return ns_error_set(error, r, "%s", e.message);
        /* Reached without symlinks, "." or "..": the simplified path is the name mountinfo uses. */
        r = path_simplify(path, &canonical);
        if (r < 0)
                return r;
        r = mount_find(canonical, ret_dev, ret_fstype);
        if (r < 0 && r != -ENOENT)
                return ns_error_set(error, r, "Cannot read /proc/self/mountinfo: %s", strerror(-r));
        return r;
}

int mount_device(const char *device, const char *path, const char *fstype, const char *options, NsError *error) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        unsigned long flags;
        char target[64];
        int r;

        r = mount_options_parse(options, &flags, &data);
        if (r < 0)
                return r;
        /* The mount point as checked (no symlinks, ancestors only root can change) is what gets
         * mounted on: through its fd, never by looking the path up again. It may belong to anyone:
         * the mount hides it. */
        r = mount_point_open(path, false, &fd, error);
        if (r < 0)
                return r;
        (void) snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
        if (mount(device, target, fstype, flags, data) < 0)
                return ns_error_set(error, -errno, "mount %s on %s (%s, options \"%s\") failed: %s", device, path,
                                    fstype, strempty(options), strerror(errno));
        return 0;
}

static bool link_on_dev(int dir_fd, const char *name, dev_t dev) {
        struct stat st;
        return fstatat(dir_fd, name, &st, 0) >= 0 && st.st_dev == dev;
}

void mount_describe_holders(dev_t dev, char *buf, size_t size) {
        _cleanup_(closedirp) DIR *proc = NULL;
        size_t len = 0;
        unsigned count = 0;
        struct dirent *de;

        buf[0] = '\0';
        proc = opendir("/proc");
        if (!proc)
                return;

        while ((de = readdir(proc))) {
                char p[64], comm[64] = "?";
                _cleanup_close_ int pfd = -EBADF;
                bool held = false;
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);

                if (pid <= 0 || pid == getpid())
                        continue;
                pfd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0)
                        continue;
                held = link_on_dev(pfd, "cwd", dev) || link_on_dev(pfd, "root", dev);
                if (!held) {
                        _cleanup_(closedirp) DIR *fds = NULL;
                        int ffd = openat(pfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (ffd >= 0 && (fds = fdopendir(ffd))) {
                                struct dirent *fe;
                                while (!held && (fe = readdir(fds)))
                                        if (fe->d_name[0] != '.')
                                                held = link_on_dev(ffd, fe->d_name, dev);
                        } else if (ffd >= 0)
                                (void) close(ffd);
                }
                if (!held) {
                        _cleanup_fclose_ FILE *maps = NULL;
                        int mfd = openat(pfd, "maps", O_RDONLY | O_CLOEXEC);
                        if (mfd >= 0 && (maps = fdopen(mfd, "re"))) {
                                char line[512];
                                unsigned maj, min;
                                while (!held && fgets(line, sizeof(line), maps))
                                        if (sscanf(line, "%*s %*s %*s %x:%x", &maj, &min) == 2 &&
                                            makedev(maj, min) == dev)
                                                held = true;
                        } else if (mfd >= 0)
                                (void) close(mfd);
                }
                if (!held)
                        continue;

                (void) snprintf(p, sizeof(p), "%d/comm", (int) pid);
                int cfd = openat(dirfd(proc), p, O_RDONLY | O_CLOEXEC);
                if (cfd >= 0) {
                        ssize_t k = read(cfd, comm, sizeof(comm) - 1);
                        comm[k > 0 ? k : 0] = '\0';
                        comm[strcspn(comm, "\n")] = '\0';
                        (void) close(cfd);
                }
                if (count++ < 5 && len < size) {
                        int w = snprintf(buf + len, size - len, "%spid %d (%s)", len ? ", " : "", (int) pid, comm);
                        if (w > 0)
                                len += (size_t) w;
                }
        }
        if (count > 5 && len < size)
                (void) snprintf(buf + len, size - len, " and %u more", count - 5);
}
