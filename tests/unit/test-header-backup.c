/* SPDX-License-Identifier: Apache-2.0 */
/* Header backups from an open device handle: the backup holds the header of the device the handle
 * is on, and a device whose header is not the volume's (another UUID) is refused, the backup that
 * was there kept byte for byte. */
#include <fcntl.h>
#include <libcryptsetup.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "header-backup.h"
#include "tests.h"

#define IMAGE_SIZE (32 * 1024 * 1024)

static Config *config;

static void make_luks(const char *path, const char *uuid) {
        struct crypt_pbkdf_type p = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
                                      .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_params_luks2 params = { .label = "data", .subsystem = "nodeseal" };
        struct crypt_device *cd = NULL;
        char key[64] = { 7 };
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0 || ftruncate(fd, IMAGE_SIZE) < 0)
                abort();
        close(fd);
        if (crypt_init(&cd, path) < 0 || crypt_set_pbkdf_type(cd, &p) < 0 ||
            crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", uuid, NULL, 64, &params) < 0 ||
            crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, key, sizeof(key)) < 0)
                abort();
        crypt_free(cd);
}

static const VolumeConfig *volume(void) {
        char json[1024];
        NsError e = {};

        if (!config) {
                snprintf(json, sizeof(json),
                         "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", \"secrets\": {\"directory\": \"%s/s\"},"
                         "\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/null\", \"mountpoint\": \"%s/mnt\","
                         " \"header_backup\": \"%s/headers\"}]}",
                         test_tmpdir, test_tmpdir, test_tmpdir, test_tmpdir);
                if (config_parse(json, strlen(json), "t.json", &config, &e) < 0) {
                        fprintf(stderr, "%s\n", e.message);
                        abort();
                }
        }
        return &config->volumes[0];
}

static int identity_of(const char *path, HeaderIdentity *ret) {
        int fd = open(path, O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        r = header_identity_read(fd, ret);
        close(fd);
        return r;
}

static int sync_from(const char *image, const char *expect, NsError *e) {
        int fd = open(image, O_RDONLY | O_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        *e = NS_ERROR_NULL;
        r = header_backup_sync(volume(), fd, image, expect, e);
        close(fd);
        return r;
}

static off_t file_size(const char *path) {
        struct stat st;
        return stat(path, &st) < 0 ? -1 : st.st_size;
}

#define UUID_A "11111111-2222-4333-8444-555555555555"
#define UUID_B "99999999-8888-4777-8666-555555555555"

TEST(backup_of_the_handle_kept_from_another_header) {
        char a[512], b[512], backup[512];
        HeaderIdentity id, before;
        struct stat st1, st2;
        NsError e = {};

        snprintf(a, sizeof(a), "%s/a.img", test_tmpdir);
        snprintf(b, sizeof(b), "%s/b.img", test_tmpdir);
        snprintf(backup, sizeof(backup), "%s/headers/data.luks-header", test_tmpdir);
        make_luks(a, UUID_A);
        make_luks(b, UUID_B);

        ASSERT_EQ(sync_from(a, UUID_A, &e), 1);
        ASSERT_OK(identity_of(backup, &before));
        ASSERT_STREQ(before.uuid, UUID_A);
        ASSERT_TRUE(file_size(backup) > 4096);
        ASSERT_EQ(stat(backup, &st1), 0);
        ASSERT_EQ(st1.st_mode & 07777, 0400);

        /* Current: nothing written. The UUID as device-mapper spells it matches too. */
        ASSERT_EQ(sync_from(a, "11111111222243338444555555555555", &e), 0);

        /* Another disk's header in the volume's place: refused, the backup untouched. */
        ASSERT_ERROR(sync_from(b, UUID_A, &e), EUCLEAN);
        ASSERT_CONTAINS(e.message, b);
        ASSERT_CONTAINS(e.message, "UUID " UUID_B ", but the volume's is " UUID_A);
        ASSERT_CONTAINS(e.message, "kept the previous header backup");
        ASSERT_OK(identity_of(backup, &id));
        ASSERT_STREQ(id.uuid, UUID_A);
        ASSERT_EQ(id.seqid, before.seqid);
        ASSERT_EQ(stat(backup, &st2), 0);
        ASSERT_EQ(st2.st_ino, st1.st_ino);
        ASSERT_EQ(st2.st_mtime, st1.st_mtime);
}

TEST(backup_of_no_luks_named) {
        char blank[512];
        NsError e = {};
        int fd;

        snprintf(blank, sizeof(blank), "%s/blank.img", test_tmpdir);
        fd = open(blank, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(ftruncate(fd, IMAGE_SIZE), 0);
        close(fd);
        ASSERT_ERROR(sync_from(blank, UUID_A, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "Volume data: cannot read the LUKS2 header of ");
        ASSERT_CONTAINS(e.message, blank);
}
