/* SPDX-License-Identifier: Apache-2.0 */
/* Header backups from an open device handle: the backup holds the header of the device the handle
 * is on, and a device whose header is not the volume's (another UUID) is refused, the backup that
 * was there kept byte for byte. In a Secret (the directory source): stored when it fits (the
 * smaller layout of a volume formatted for it), refreshed after a header change, refused with
 * its size when it does not fit, the stored one kept. */
#include <fcntl.h>
#include <libcryptsetup.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "header-backup.h"
#include "secret.h"
#include "tests.h"

#define IMAGE_SIZE (32 * 1024 * 1024)

static Config *config;

static void make_luks_layout(const char *path, const char *uuid, const VolumeConfig *layout) {
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
            (layout && header_backup_format_layout(layout, cd, NULL) < 0) ||
            crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", uuid, NULL, 64, &params) < 0 ||
            crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, key, sizeof(key)) < 0)
                abort();
        crypt_free(cd);
}

static void make_luks(const char *path, const char *uuid) {
        make_luks_layout(path, uuid, NULL);
}

/* The one volume "data" of a config whose header_backup is hb (JSON), parsed once into *c. */
static const VolumeConfig *volume_with(Config **c, const char *hb) {
        char json[1024];
        NsError e = {};

        if (!*c) {
                snprintf(json, sizeof(json),
                         "{\"node_name\": \"n1\", \"runtime_directory\": \"%s/run\", \"secrets\": {\"directory\": \"%s/s\"},"
                         "\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/null\", \"mountpoint\": \"%s/mnt\","
                         " \"header_backup\": %s}]}",
                         test_tmpdir, test_tmpdir, test_tmpdir, hb);
                if (config_parse(json, strlen(json), "t.json", c, &e) < 0) {
                        fprintf(stderr, "%s\n", e.message);
                        abort();
                }
        }
        return &(*c)->volumes[0];
}

static const VolumeConfig *volume(void) {
        char hb[600];

        snprintf(hb, sizeof(hb), "\"%s/headers\"", test_tmpdir);
        return volume_with(&config, hb);
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
        r = header_backup_sync(volume(), NULL, fd, image, expect, e);
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

static Config *secret_config;

static const VolumeConfig *secret_volume(void) {
        return volume_with(&secret_config, "{\"secret\": \"headers-{node}\"}");
}

static int secret_sync_from(const char *image, const char *expect, NsError *e) {
        SecretSource *s = NULL;
        int fd, r;

        *e = NS_ERROR_NULL;
        if (secret_source_new(secret_config, &s, e) < 0)
                abort();
        fd = open(image, O_RDONLY | O_CLOEXEC);
        r = fd < 0 ? -errno : header_backup_sync(secret_volume(), s, fd, image, expect, e);
        if (fd >= 0)
                close(fd);
        secret_source_free(s);
        return r;
}

/* The stored value: its identity, and whether it is the image's header byte for byte. */
static int stored(const char *image, HeaderIdentity *ret, off_t *ret_size, bool *ret_same) {
        char path[512], *a, *b;
        off_t size;
        FILE *f, *g;
        bool same;

        snprintf(path, sizeof(path), "%s/s/headers-n1/data.luks-header", test_tmpdir);
        size = file_size(path);
        if (size <= 0)
                return -ENOENT;
        a = malloc(size);
        b = malloc(size);
        f = fopen(path, "re");
        g = fopen(image, "re");
        if (!a || !b || !f || !g || fread(a, 1, size, f) != (size_t) size || fread(b, 1, size, g) != (size_t) size)
                abort();
        same = memcmp(a, b, size) == 0;
        fclose(f);
        fclose(g);
        free(a);
        free(b);
        *ret_size = size;
        *ret_same = same;
        return identity_of(path, ret);
}

TEST(secret_backup_stored_refreshed_refused) {
        char a[512], b[512], big[512], leftover[512];
        HeaderIdentity id, first;
        struct crypt_device *cd = NULL;
        char key[64] = { 7 }, key2[64] = { 9 };
        bool same = false;
        off_t size = 0;
        NsError e = {};

        snprintf(a, sizeof(a), "%s/s", test_tmpdir);
        ASSERT_EQ(mkdir(a, 0700), 0);
        snprintf(a, sizeof(a), "%s/sa.img", test_tmpdir);
        snprintf(b, sizeof(b), "%s/sb.img", test_tmpdir);
        snprintf(big, sizeof(big), "%s/big.img", test_tmpdir);
        make_luks_layout(a, UUID_A, secret_volume());
        make_luks_layout(b, UUID_B, secret_volume());
        make_luks(big, UUID_A);

        if (secret_sync_from(a, UUID_A, &e) != 1)
                TEST_FAIL_AT("first backup to the Secret: %s", e.message);
        ASSERT_OK(stored(a, &first, &size, &same));
        ASSERT_STREQ(first.uuid, UUID_A);
        ASSERT_EQ(size, 2 * HEADER_BACKUP_SECRET_METADATA_BYTES + HEADER_BACKUP_SECRET_KEYSLOTS_BYTES);
        ASSERT_TRUE(size <= (off_t) HEADER_BACKUP_SECRET_MAX);
        ASSERT_TRUE(same);
        ASSERT_EQ(secret_sync_from(a, UUID_A, &e), 0);

        /* A header change (a second key slot: rotation's): the stored backup follows. */
        ASSERT_OK(crypt_init(&cd, a));
        ASSERT_OK(crypt_load(cd, CRYPT_LUKS2, NULL));
        ASSERT_OK(crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, key, sizeof(key), key2, sizeof(key2)));
        crypt_free(cd);
        ASSERT_EQ(secret_sync_from(a, UUID_A, &e), 1);
        ASSERT_OK(stored(a, &id, &size, &same));
        ASSERT_TRUE(id.seqid > first.seqid);
        ASSERT_TRUE(same);
        first = id;

        /* Another disk's header: refused, the stored one kept. */
        ASSERT_ERROR(secret_sync_from(b, UUID_A, &e), EUCLEAN);
        ASSERT_CONTAINS(e.message, "UUID " UUID_B ", but the volume's is " UUID_A);
        ASSERT_OK(stored(a, &id, &size, &same));
        ASSERT_STREQ(id.uuid, UUID_A);
        ASSERT_EQ(id.seqid, first.seqid);
        ASSERT_TRUE(same);

        /* The default layout (16 MiB) does not fit: refused naming the size, the stored one kept. */
        ASSERT_ERROR(secret_sync_from(big, UUID_A, &e), EFBIG);
        ASSERT_CONTAINS(e.message, "its LUKS2 header is 16777216 bytes");
        ASSERT_CONTAINS(e.message, "more than a Secret holds (1048576): not stored in Secret headers-n1");
        ASSERT_OK(stored(a, &id, &size, &same));
        ASSERT_EQ(id.seqid, first.seqid);
        ASSERT_TRUE(same);

        /* Nothing of the header is left in the runtime directory. */
        snprintf(leftover, sizeof(leftover), "%s/run/.data.secret.tmp", test_tmpdir);
        ASSERT_EQ(file_size(leftover), -1);
}

TEST(secret_backup_config_checked) {
        static const struct { const char *hb, *msg; } cases[] = {
                { "{\"secret\": \"Bad_Name\"}", "volumes[0].header_backup.secret: \"Bad_Name\" (after expanding {node}) is not a valid Secret name" },
                { "{\"secret\": \"nodeseal-keys-{node}\"}", "is the keys Secret: a header backup (up to 1 MiB) needs a Secret of its own" },
                { "{\"directory\": \"/var/lib/x\"}", "volumes[0].header_backup.secret: required field missing" },
                { "{\"secret\": \"h\", \"dir\": 1}", "volumes[0].header_backup.dir: unknown field" },
                { "3", "must be an absolute path, false or an object with \"secret\"" },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char json[1024];
                Config *c = NULL;
                NsError e = {};

                snprintf(json, sizeof(json),
                         "{\"node_name\": \"n1\", \"volumes\": [{\"name\": \"data\", \"device\": \"/dev/null\","
                         " \"mountpoint\": \"/srv/x\", \"header_backup\": %s}]}", cases[i].hb);
                ASSERT_TRUE(config_parse(json, strlen(json), "t.json", &c, &e) < 0);
                ASSERT_CONTAINS(e.message, cases[i].msg);
        }
        {
                const char *json = "{\"node_name\": \"n1\", \"volumes\": [{\"name\": \"data\", \"device\": \"/dev/null\","
                                   " \"mountpoint\": \"/srv/x\", \"header_backup\": {\"secret\": \"h-{node}\", \"directory\": \"/var/lib/h\"}}]}";
                Config *c = NULL;
                NsError e = {};

                ASSERT_OK(config_parse(json, strlen(json), "t.json", &c, &e));
                ASSERT_STREQ(c->volumes[0].header_backup_secret, "h-n1");
                ASSERT_STREQ(c->volumes[0].header_backup, "/var/lib/h");
                config_free(c);
        }
}
