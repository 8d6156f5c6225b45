/* SPDX-License-Identifier: Apache-2.0 */
/* Volumes on disk-image files, as far as a kernel without device-mapper lets them go: what is
 * refused (and left byte for byte as it was), what gets formatted and how, wrong keys, an
 * interrupted format, and key rotation in the header. Opening and mounting are the VM tier's. */
#include <fcntl.h>
#include <libcryptsetup.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"
#include "secret.h"
#include "tests.h"
#include "volume.h"

#define IMAGE_SIZE (32 * 1024 * 1024)

extern char **environ;

static char secrets_dir[512];

static int run(const char *const argv[], const char *stdin_text) {
        posix_spawn_file_actions_t fa;
        int pipefd[2] = { -1, -1 }, status;
        pid_t pid;

        posix_spawn_file_actions_init(&fa);
        if (stdin_text) {
                if (pipe(pipefd) < 0)
                        return -errno;
                posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
                posix_spawn_file_actions_addclose(&fa, pipefd[1]);
        }
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, (char **) argv, environ) != 0)
                return -ENOENT;
        posix_spawn_file_actions_destroy(&fa);
        if (stdin_text) {
                close(pipefd[0]);
                if (write(pipefd[1], stdin_text, strlen(stdin_text)) < 0)
                        return -errno;
                close(pipefd[1]);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void remove_key(const char *name);

/* A new image is a new volume: the format records of the last one go. */
static void make_image(const char *path) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        remove_key("data.luks-uuid");
        remove_key("data.formatted");
        if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
                abort();
        close(fd);
}

static char *read_image(const char *path) {
        char *buf = malloc(IMAGE_SIZE);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t done = 0;

        if (!buf || fd < 0)
                abort();
        while (done < IMAGE_SIZE) {
                ssize_t n = read(fd, buf + done, IMAGE_SIZE - done);
                if (n <= 0)
                        abort();
                done += (size_t) n;
        }
        close(fd);
        return buf;
}

static void write_key(const char *name, unsigned char fill, size_t size) {
        char p[1024], *buf = malloc(size);
        int fd;

        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1", secrets_dir);
        mkdir(secrets_dir, 0700);
        mkdir(p, 0700);
        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1/%s", secrets_dir, name);
        memset(buf, fill, size);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, buf, size) != (ssize_t) size)
                abort();
        close(fd);
        free(buf);
}

static void remove_key(const char *name) {
        char p[1024];
        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1/%s", secrets_dir, name);
        (void) unlink(p);
}

static Config *make_config(const char *image, const char *extra) {
        char json[2048];
        NsError e = {};
        Config *c = NULL;

        snprintf(secrets_dir, sizeof(secrets_dir), "%s/secrets", test_tmpdir);
        snprintf(json, sizeof(json),
                 "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", \"secrets\": {\"directory\": \"%s\"},"
                 "\"volumes\": [{\"name\": \"data\", \"device\": \"%s\", \"mountpoint\": \"%s/mnt\","
                 " \"header_backup\": \"%s/headers\"%s}]}",
                 test_tmpdir, secrets_dir, image, test_tmpdir, test_tmpdir, extra ? extra : "");
        if (config_parse(json, strlen(json), "t.json", &c, &e) < 0) {
                fprintf(stderr, "%s\n", e.message);
                abort();
        }
        return c;
}

/* Provisions and returns the code and the message; the volume is closed again where the kernel
 * could open it. */
static int provision(Config *c, NsError *e) {
        SecretSource *s = NULL;
        int r;

        *e = NS_ERROR_NULL;
        if (secret_source_new(c, &s, e) < 0)
                abort();
        r = volume_provision(c, &c->volumes[0], s, e);
        secret_source_free(s);
        if (r >= 0)
                (void) volume_close(c, &c->volumes[0], NULL);
        return r;
}

static int format_foreign(const char *image, const char *subsystem, const char *label, unsigned char fill) {
        struct crypt_device *cd = NULL;
        struct crypt_pbkdf_type p = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
                                      .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_params_luks2 params = { .label = label, .subsystem = subsystem };
        char key[64];
        int r;

        memset(key, fill, sizeof(key));
        r = crypt_init(&cd, image);
        if (r >= 0)
                r = crypt_set_pbkdf_type(cd, &p);
        if (r >= 0)
                r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, 64, &params);
        if (r >= 0)
                r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, key, sizeof(key));
        crypt_free(cd);
        return r < 0 ? r : 0;
}

/* Which of the keys (filled with that byte) opens the image: -EPERM if it does not. */
static int opens_with(const char *image, unsigned char fill) {
        struct crypt_device *cd = NULL;
        char key[64];
        int r;

        memset(key, fill, sizeof(key));
        r = crypt_init(&cd, image);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r >= 0)
                r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, key, sizeof(key), 0);
        crypt_free(cd);
        return r;
}

static void assert_refused_unchanged(const char *image, const char *extra, int code, const char *needle) {
        char *before = read_image(image), *after;
        NsError e;
        Config *c = make_config(image, extra);
        int r = provision(c, &e);

        config_free(c);
        after = read_image(image);
        if (r != code || !strstr(e.message, needle) || memcmp(before, after, IMAGE_SIZE) != 0) {
                fprintf(stderr, "  %s: r=%d (want %d), message \"%s\" (want \"%s\"), unchanged=%d\n", image, r, code,
                        e.message, needle, memcmp(before, after, IMAGE_SIZE) == 0);
                test_failed = 1;
        }
        free(before);
        free(after);
}

TEST(ext4_refused_unchanged) {
        char image[512];
        snprintf(image, sizeof(image), "%s/ext4.img", test_tmpdir);
        make_image(image);
        ASSERT_EQ(run((const char *const[]) { "mkfs.ext4", "-q", "-F", "-L", "olddata", image, NULL }, NULL), 0);
        write_key("data", 'k', 64);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "holds ext4 filesystem signature labelled \"olddata\"");
}

TEST(partition_table_refused_unchanged) {
        char image[512];
        snprintf(image, sizeof(image), "%s/parted.img", test_tmpdir);
        make_image(image);
        ASSERT_EQ(run((const char *const[]) { "sfdisk", "-q", image, NULL }, "label: gpt\n,8M\n"), 0);
        write_key("data", 'k', 64);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "gpt partition table");
}

/* No signature, yet written: libblkid calls these blank; nodeseal must not format them. */
static void write_at(const char *image, off_t offset, const void *data, size_t size) {
        int fd = open(image, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || pwrite(fd, data, size, offset) != (ssize_t) size)
                abort();
        close(fd);
}

TEST(data_without_signature_refused_unchanged) {
        char image[512], block[4096];
        int fd;

        write_key("data", 'k', 64);
        snprintf(image, sizeof(image), "%s/random.img", test_tmpdir);
        make_image(image);
        /* Random bytes all over (what plain dm-crypt or an old disk looks like). */
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        for (off_t o = 0; o < IMAGE_SIZE; o += (off_t) sizeof(block)) {
                ASSERT_EQ(read(fd, block, sizeof(block)), (ssize_t) sizeof(block));
                block[0] |= 1;
                write_at(image, o, block, sizeof(block));
        }
        close(fd);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "has no signature libblkid knows, but it holds data (a non-zero byte at offset 0)");

        /* An ext4 filesystem whose signature was wiped (wipefs -a): blank to libblkid at the start, but
         * its first backup superblock (8 MiB in, with 1 KiB blocks) is still there. */
        snprintf(image, sizeof(image), "%s/wiped.img", test_tmpdir);
        make_image(image);
        ASSERT_EQ(run((const char *const[]) { "mkfs.ext4", "-q", "-F", image, NULL }, NULL), 0);
        ASSERT_EQ(run((const char *const[]) { "wipefs", "-q", "-a", image, NULL }, NULL), 0);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "holds ext4 filesystem signature at offset 8388608");

        /* One byte near the end, past the last MiB's start. */
        snprintf(image, sizeof(image), "%s/tail.img", test_tmpdir);
        make_image(image);
        write_at(image, IMAGE_SIZE - 3, "x", 1);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "a non-zero byte at offset 33554429)"); /* IMAGE_SIZE - 3 */
}

TEST(foreign_luks_refused_without_adopt) {
        char image[512];
        snprintf(image, sizeof(image), "%s/foreign.img", test_tmpdir);
        make_image(image);
        ASSERT_OK(format_foreign(image, "someone", "theirs", 'k'));
        write_key("data", 'k', 64);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "foreign LUKS2 header (label \"theirs\", subsystem \"someone\")");
        /* Another nodeseal volume's device is never opened under this name, adopt or not. */
        make_image(image);
        ASSERT_OK(format_foreign(image, "nodeseal", "other", 'k'));
        assert_refused_unchanged(image, ", \"adopt\": true", -EUCLEAN, "nodeseal's LUKS2 volume \"other\"");
}

TEST(wrong_key_refused_never_formatted) {
        char image[512];
        snprintf(image, sizeof(image), "%s/wrongkey.img", test_tmpdir);
        make_image(image);
        ASSERT_OK(format_foreign(image, "nodeseal", "data", 'k'));
        write_key("data", 'w', 64);
        remove_key("data.previous");
        assert_refused_unchanged(image, NULL, -EKEYREJECTED, "does not open the LUKS device");
        /* A wrong .previous does not help either. */
        write_key("data.previous", 'x', 64);
        assert_refused_unchanged(image, NULL, -EKEYREJECTED, "Neither key \"data\" nor \"data.previous\"");
        remove_key("data.previous");
}

TEST(blank_with_format_never_refused) {
        char image[512];
        snprintf(image, sizeof(image), "%s/never.img", test_tmpdir);
        make_image(image);
        write_key("data", 'k', 64);
        assert_refused_unchanged(image, ", \"format\": \"never\"", -ENOMEDIUM, "format policy is \"never\"");
}

TEST(missing_or_short_key_formats_nothing) {
        char image[512];
        snprintf(image, sizeof(image), "%s/nokey.img", test_tmpdir);
        make_image(image);
        remove_key("data");
        assert_refused_unchanged(image, NULL, -ENOKEY, "has no key \"data\"");
        write_key("data", 'k', 16);
        assert_refused_unchanged(image, NULL, -EMSGSIZE, "at least 32");
}

TEST(blank_formatted_as_nodeseal_luks2) {
        struct crypt_device *cd = NULL;
        char image[512];
        ProbeResult p;
        NsError e;
        Config *c;

        snprintf(image, sizeof(image), "%s/blank.img", test_tmpdir);
        make_image(image);
        write_key("data", 'k', 64);
        c = make_config(image, ", \"luks\": {\"allow_discards\": true}");
        (void) provision(c, &e);   /* opening needs device-mapper; the header is written before that */
        config_free(c);

        ASSERT_OK(probe_device(image, &p, NULL));
        ASSERT_EQ(p.kind, PROBE_LUKS);
        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_STREQ(crypt_get_label(cd), "data");
        ASSERT_STREQ(crypt_get_subsystem(cd), "nodeseal");
        ASSERT_STREQ(crypt_get_cipher(cd), "aes");
        ASSERT_STREQ(crypt_get_cipher_mode(cd), "xts-plain64");
        ASSERT_EQ(crypt_get_volume_key_size(cd), 64);
        ASSERT_EQ(crypt_get_sector_size(cd), 4096);
        struct crypt_pbkdf_type pb;
        ASSERT_OK(crypt_keyslot_get_pbkdf(cd, 0, &pb));
        ASSERT_STREQ(pb.type, CRYPT_KDF_PBKDF2);
        uint32_t flags = 0;
        ASSERT_OK(crypt_persistent_flags_get(cd, CRYPT_FLAGS_ACTIVATION, &flags));
        ASSERT_TRUE(flags & CRYPT_ACTIVATE_ALLOW_DISCARDS);
        crypt_free(cd);
        ASSERT_TRUE(opens_with(image, 'k') >= 0);
}

static void write_record(const char *suffix, const char *uuid) {
        char p[1024], json[256];
        int fd;

        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1/data%s", secrets_dir, suffix);
        snprintf(json, sizeof(json), "{\"uuid\":\"%s\",\"time\":\"2026-01-02T03:04:05Z\"}", uuid);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t) strlen(json))
                abort();
        close(fd);
}

#define HEADER_UUID "0b9e5c1a-7d2f-4e63-9a8b-3c4d5e6f7a8b"

/* nodeseal's header without a key slot: what a kill between format and key slot leaves, and also
 * what luksKillSlot or luksErase leaves of a volume that holds data. */
static void make_slotless(const char *image) {
        struct crypt_device *cd = NULL;
        struct crypt_params_luks2 params = { .label = "data", .subsystem = "nodeseal" };

        make_image(image);
        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", HEADER_UUID, NULL, 64, &params));
        crypt_free(cd);
        ASSERT_TRUE(opens_with(image, 'k') < 0);
}

TEST(interrupted_format_formatted_again) {
        struct crypt_device *cd = NULL;
        char image[512];
        NsError e;
        Config *c;

        snprintf(image, sizeof(image), "%s/interrupted.img", test_tmpdir);
        make_slotless(image);
        write_key("data", 'k', 64);
        /* Provably interrupted: the record says this very format began and never completed, and the
         * data area reads as zeros. */
        write_record(".luks-uuid", HEADER_UUID);
        c = make_config(image, NULL);
        (void) provision(c, &e);
        config_free(c);
        ASSERT_TRUE(opens_with(image, 'k') >= 0);
        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_STREQ(crypt_get_uuid(cd), HEADER_UUID);   /* the recorded UUID, kept */
        crypt_free(cd);
}

TEST(slotless_header_without_proof_refused_unchanged) {
        char image[512];

        snprintf(image, sizeof(image), "%s/slotless.img", test_tmpdir);
        write_key("data", 'k', 64);
        /* No record at all: slots killed by a tool, or left by an older nodeseal. */
        make_slotless(image);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "no format record says a format of it was interrupted");
        /* The record says the format completed: the slots were removed after it held data. */
        make_slotless(image);
        write_record(".luks-uuid", HEADER_UUID);
        write_record(".formatted", HEADER_UUID);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "its slots were removed after it held data");
        /* Begun and never completed, but data lies in the data area (16 MiB in). */
        make_slotless(image);
        write_record(".luks-uuid", HEADER_UUID);
        write_at(image, 17 * 1024 * 1024, "ciphertext", 10);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "yet its data area holds data (a non-zero byte at offset 17825792)");
        /* A record of another format: not this header's. */
        make_slotless(image);
        write_record(".luks-uuid", "11111111-2222-4333-8444-555555555555");
        assert_refused_unchanged(image, NULL, -EUCLEAN, "format record of volume data names LUKS 11111111-2222-4333-8444-555555555555");
}

TEST(killed_slots_of_a_used_volume_refused_unchanged) {
        struct crypt_device *cd = NULL;
        char image[512];
        NsError e;
        Config *c;

        /* nodeseal formats it (records stored), then someone kills its only slot. */
        snprintf(image, sizeof(image), "%s/killed.img", test_tmpdir);
        make_image(image);
        write_key("data", 'k', 64);
        c = make_config(image, NULL);
        (void) provision(c, &e);
        config_free(c);
        ASSERT_TRUE(opens_with(image, 'k') >= 0);
        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_OK(crypt_keyslot_destroy(cd, 0));
        crypt_free(cd);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "its slots were removed after it held data");
}

TEST(recorded_volume_reading_blank_refused) {
        char image[512];
        NsError e;
        Config *c;

        /* Formatted once (records stored); then the device reads as zeros: a backend that lost it, a
         * disk swapped under the same name. Never formatted again. */
        snprintf(image, sizeof(image), "%s/recorded.img", test_tmpdir);
        make_image(image);
        write_key("data", 'k', 64);
        c = make_config(image, NULL);
        (void) provision(c, &e);
        config_free(c);
        ASSERT_TRUE(opens_with(image, 'k') >= 0);
        ASSERT_EQ(truncate(image, 0), 0);
        ASSERT_EQ(truncate(image, IMAGE_SIZE), 0);
        assert_refused_unchanged(image, NULL, -EUCLEAN, "(record \"data.formatted\" in Secret nodeseal-keys-n1); the device");
        assert_refused_unchanged(image, NULL, -EUCLEAN, "reads blank now: refusing to format it");
        /* The message names the record and how to start afresh on purpose. */
        assert_refused_unchanged(image, NULL, -EUCLEAN, "delete the records \"data.luks-uuid\" and \"data.formatted\"");
}

TEST(zapped_partition_table_refused_unchanged) {
        static const char *const layouts[] = { "ext4", "luks" };
        char image[512], part[512], needle[128], cmd_if[600], cmd_of[600];

        write_key("data", 'k', 64);
        for (size_t i = 0; i < ELEMENTSOF(layouts); i++) {
                /* A partition at 1 MiB (2048 sectors) holding a filesystem or a LUKS header, then the
                 * table zapped as sgdisk --zap-all does: the first and the last MiB zeroed. */
                snprintf(image, sizeof(image), "%s/zapped.img", test_tmpdir);
                snprintf(part, sizeof(part), "%s/part.img", test_tmpdir);
                make_image(image);
                make_image(part);
                ASSERT_EQ(truncate(part, 20 * 1024 * 1024), 0);
                if (streq(layouts[i], "luks"))
                        ASSERT_OK(format_foreign(part, "someone", "theirs", 'x'));
                else
                        ASSERT_EQ(run((const char *const[]) { "mkfs.ext4", "-q", "-F", part, NULL }, NULL), 0);
                snprintf(cmd_if, sizeof(cmd_if), "if=%s", part);
                snprintf(cmd_of, sizeof(cmd_of), "of=%s", image);
                ASSERT_EQ(run((const char *const[]) { "dd", cmd_if, cmd_of, "bs=1M", "seek=1", "conv=notrunc", "status=none", NULL },
                              NULL), 0);
                snprintf(needle, sizeof(needle), "signature at offset 1048576 (1024 KiB), behind the start of the device");
                if (streq(layouts[i], "luks"))
                        snprintf(needle, sizeof(needle), "a LUKS header labelled \"theirs\" at offset 1048576");
                assert_refused_unchanged(image, NULL, -EUCLEAN, needle);
                unlink(part);
        }
}

TEST(rotation_enrols_new_key_and_drops_old) {
        char image[512];
        NsError e;
        Config *c;

        snprintf(image, sizeof(image), "%s/rotate.img", test_tmpdir);
        make_image(image);
        ASSERT_OK(format_foreign(image, "nodeseal", "data", 'o'));
        write_key("data", 'n', 64);
        write_key("data.previous", 'o', 64);
        c = make_config(image, NULL);
        (void) provision(c, &e);
        ASSERT_TRUE(opens_with(image, 'n') >= 0);
        ASSERT_EQ(opens_with(image, 'o'), -EPERM);
        /* A rerun with both keys still in the Secret changes nothing and still opens. */
        (void) provision(c, &e);
        ASSERT_TRUE(opens_with(image, 'n') >= 0);
        config_free(c);
        remove_key("data.previous");
}

TEST(rotation_converges_when_both_slots_left) {
        struct crypt_device *cd = NULL;
        char image[512], o[64], n[64];
        NsError e;
        Config *c;

        /* A kill after enrolling the new key but before dropping the old one leaves both slots. */
        snprintf(image, sizeof(image), "%s/rotate2.img", test_tmpdir);
        make_image(image);
        ASSERT_OK(format_foreign(image, "nodeseal", "data", 'o'));
        memset(o, 'o', sizeof(o));
        memset(n, 'n', sizeof(n));
        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_TRUE(crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, o, sizeof(o), n, sizeof(n)) >= 0);
        crypt_free(cd);

        write_key("data", 'n', 64);
        write_key("data.previous", 'o', 64);
        c = make_config(image, NULL);
        (void) provision(c, &e);
        config_free(c);
        ASSERT_TRUE(opens_with(image, 'n') >= 0);
        ASSERT_EQ(opens_with(image, 'o'), -EPERM);
        remove_key("data.previous");
}

TEST(argon2id_with_its_costs) {
        struct crypt_device *cd = NULL;
        struct crypt_pbkdf_type pb;
        char image[512];
        NsError e;
        Config *c;

        snprintf(image, sizeof(image), "%s/argon.img", test_tmpdir);
        make_image(image);
        write_key("data", 'k', 64);
        c = make_config(image, ", \"luks\": {\"pbkdf\": \"argon2id\", \"argon2_time\": 5, \"argon2_memory_kib\": 32768,"
                               " \"argon2_parallel\": 2, \"no_read_workqueue\": true}");
        (void) provision(c, &e);
        config_free(c);

        ASSERT_OK(crypt_init(&cd, image));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_OK(crypt_keyslot_get_pbkdf(cd, 0, &pb));
        ASSERT_STREQ(pb.type, CRYPT_KDF_ARGON2ID);
        ASSERT_EQ(pb.iterations, 5);
        ASSERT_EQ(pb.max_memory_kb, 32768);
        ASSERT_EQ(pb.parallel_threads, 2);
        uint32_t flags = 0;
        ASSERT_OK(crypt_persistent_flags_get(cd, CRYPT_FLAGS_ACTIVATION, &flags));
        ASSERT_TRUE(flags & CRYPT_ACTIVATE_NO_READ_WORKQUEUE);
        ASSERT_FALSE(flags & CRYPT_ACTIVATE_ALLOW_DISCARDS);
        crypt_free(cd);
        ASSERT_TRUE(opens_with(image, 'k') >= 0);
}
