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

static void poke(const char *path, off_t offset) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, "\1", 1, offset) != 1)
                abort();
        close(fd);
}

TEST(unwritten) {
        const uint64_t size = 16 * 1024 * 1024;   /* image()'s size */
        uint64_t at = 0;
        const char *p;
        NsError e = {};

        p = image("zeros.img");
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 1);

        /* The first byte, the last byte, anywhere in the first 4 MiB (where partitions start and
         * headers live: read whole), the start of the last MiB. */
        const off_t where[] = { 0, (off_t) size - 1, 1024 * 1024 + 1024, 4 * 1024 * 1024 - 1,
                                (off_t) size - 1024 * 1024 };
        for (size_t i = 0; i < ELEMENTSOF(where); i++) {
                p = image("poked.img");
                poke(p, where[i]);
                ASSERT_EQ(probe_device_unwritten(p, &at, &e), 0);
                ASSERT_EQ(at, (uint64_t) where[i]);
        }

        /* In between, 1024 points 4 KiB long: on a 16 MiB image, 11 MiB / 1024 apart starting half a
         * step in, rounded down to 4 KiB; a byte inside a sample is found, one between samples is
         * not (sampling, not a full read). */
        uint64_t span = size - 5 * 1024 * 1024, step = span / 1024;
        uint64_t first = 4 * 1024 * 1024 + span / 2048;
        first -= first % 4096;
        p = image("sample.img");
        poke(p, (off_t) first + 100);
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 0);
        ASSERT_EQ(at, first + 100);
        uint64_t tenth = 4 * 1024 * 1024 + step * 10 + span / 2048;
        tenth -= tenth % 4096;
        p = image("tenth.img");
        poke(p, (off_t) tenth + 4095);
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 0);
        ASSERT_EQ(at, tenth + 4095);
        p = image("between.img");
        poke(p, (off_t) first + 8192);
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 1);

        /* From an offset (the data area behind a LUKS header): what lies before it does not count. */
        p = image("from.img");
        poke(p, 1000);
        {
                int fd = open(p, O_RDONLY | O_CLOEXEC);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(probe_fd_unwritten(fd, p, 4096, &at, &e), 1);
                ASSERT_EQ(probe_fd_unwritten(fd, p, 0, &at, &e), 0);
                ASSERT_EQ(probe_fd_unwritten(fd, p, size, &at, &e), 1);
                close(fd);
        }

        /* Smaller than the edges: read whole. */
        p = image("small.img");
        ASSERT_EQ(truncate(p, 3000), 0);
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 1);
        poke(p, 2999);
        ASSERT_EQ(probe_device_unwritten(p, &at, &e), 0);
        ASSERT_EQ(at, 2999u);

        ASSERT_ERROR(probe_device_unwritten("/no/such/device", &at, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "/no/such/device");
}
