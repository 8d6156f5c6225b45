/* SPDX-License-Identifier: Apache-2.0 */
/* probe.c: what libblkid finds on images, and device specs. */
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"
#include "tests.h"

extern char **environ;

static const char *image(const char *name) {
        static char path[512];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", test_tmpdir, name);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, 16 * 1024 * 1024) < 0)
                abort();
        close(fd);
        return path;
}

static int run(const char *const argv[]) {
        posix_spawn_file_actions_t fa;
        pid_t pid;
        int status;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, (char **) argv, environ) != 0)
                return -1;
        posix_spawn_file_actions_destroy(&fa);
        return waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(kinds) {
        const char *p;
        ProbeResult r;
        char d[256];

        p = image("blank.img");
        ASSERT_OK(probe_device(p, &r, NULL));
        ASSERT_EQ(r.kind, PROBE_BLANK);

        p = image("ext4.img");
        ASSERT_EQ(run((const char *const[]) { "mkfs.ext4", "-q", "-F", "-L", "lbl", p, NULL }), 0);
        ASSERT_OK(probe_device(p, &r, NULL));
        ASSERT_EQ(r.kind, PROBE_FILESYSTEM);
        ASSERT_STREQ(r.type, "ext4");
        ASSERT_STREQ(r.label, "lbl");
        probe_result_describe(&r, d, sizeof(d));
        ASSERT_STREQ(d, "ext4 filesystem signature labelled \"lbl\"");

        p = image("swap.img");
        ASSERT_EQ(run((const char *const[]) { "mkswap", p, NULL }), 0);
        ASSERT_OK(probe_device(p, &r, NULL));
        ASSERT_EQ(r.kind, PROBE_FILESYSTEM);
        ASSERT_STREQ(r.type, "swap");

        p = image("dos.img");
        ASSERT_EQ(run((const char *const[]) { "sh", "-c", "echo 'label: dos' | sfdisk -q \"$0\"", p, NULL }), 0);
        ASSERT_OK(probe_device(p, &r, NULL));
        ASSERT_EQ(r.kind, PROBE_PARTITION_TABLE);
        ASSERT_STREQ(r.type, "dos");

        /* Nothing but zeros except a signature deep inside: still refused, never called blank. */
        p = image("xfs.img");
        ASSERT_EQ(run((const char *const[]) { "sh", "-c", "truncate -s 320M \"$0\" && mkfs.xfs -q -f \"$0\"", p, NULL }), 0);
        ASSERT_OK(probe_device(p, &r, NULL));
        ASSERT_EQ(r.kind, PROBE_FILESYSTEM);
        ASSERT_STREQ(r.type, "xfs");
}

TEST(device_specs) {
        char *path = NULL;
        NsError e = {};

        ASSERT_ERROR(probe_resolve_device("LABEL=no-such-label-anywhere-42", &path, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "LABEL=no-such-label-anywhere-42");
        e = NS_ERROR_NULL;
        ASSERT_ERROR(probe_resolve_device("UUID=", &path, &e), EINVAL);
        e = NS_ERROR_NULL;
        ASSERT_ERROR(probe_resolve_device("vdb", &path, &e), EINVAL);
        ASSERT_CONTAINS(e.message, "not an absolute path");
        e = NS_ERROR_NULL;
        ASSERT_ERROR(probe_resolve_device("/no/such/device", &path, &e), ENOENT);
        e = NS_ERROR_NULL;
        ASSERT_ERROR(probe_resolve_device("/proc", &path, &e), ENOTBLK);
        ASSERT_CONTAINS(e.message, "neither a block device nor a regular file");
        ASSERT_OK(probe_resolve_device(image("file.img"), &path, &e));
        free(path);
}
