/* SPDX-License-Identifier: Apache-2.0 */
/* Why a LUKS2 header does not load, and the one repair of it that is safe without a human.
 *
 * LUKS2 keeps two copies of its metadata (binary header + JSON, each with a checksum) and writes
 * them one after the other, each in three writes (header without checksum, JSON, header with
 * checksum). A process killed in between leaves one copy torn and the other whole: libcryptsetup
 * rewrites the torn one from the whole one at the next load, but only after libblkid found no other
 * signature on the device; otherwise the load fails ("Device contains ambiguous signatures, cannot
 * auto-recover LUKS2") and an active mapping over it reads as "not a LUKS mapping". This module
 * tells those states apart by reading both copies itself, and repairs the one that is provably a
 * torn copy of this very header. */
#include <blkid.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crypt-util.h"
#include "header-repair.h"
#include "log.h"

#define BIN_LEN 4096
#define CSUM_OFFSET 448
#define CSUM_LEN 64
#define MAX_FOUND 4

typedef struct HeaderCopy {
        bool present;           /* its magic is there */
        bool valid;             /* and its checksum matches */
        uint64_t offset, size, seqid;
        char uuid[41];
} HeaderCopy;

typedef struct Signature {
        char type[32];
        uint64_t offset;
} Signature;

/* libcryptsetup's words during one load: the errors, and the debug lines that say why. */
typedef struct Capture {
        char text[768];
} Capture;

static const uint64_t hdr_sizes[] = { 0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000 };

static bool interesting(int level, const char *msg) {
        static const char *const words[] = { "header", "Header", "lock", "blkid", "Blkid", "signature", "checksum", "recover" };

        if (level == CRYPT_LOG_ERROR)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (strstr(msg, words[i]))
                        return true;
        return false;
}

static void on_capture(int level, const char *msg, void *usrptr) {
        Capture *c = usrptr;
        size_t n = strlen(c->text), len = strcspn(msg, "\n");

        if (!interesting(level, msg) || n + 3 >= sizeof(c->text))
                return;
        (void) snprintf(c->text + n, sizeof(c->text) - n, "%s%.*s", n ? "; " : "", (int) len, msg);
}

/* crypt_load of path, libcryptsetup's messages at debug level into *c for this one call. */
static int load_captured(const char *path, Capture *c, char ret_uuid[static 41]) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        *c = (Capture) {};
        r = crypt_init(&cd, path);
        if (r < 0)
                return r;
        crypt_set_log_callback(cd, on_capture, c);
        crypt_set_debug_level(CRYPT_DEBUG_ALL);
        r = crypt_load(cd, CRYPT_LUKS2, NULL);
        crypt_set_debug_level(CRYPT_DEBUG_NONE);
        if (r >= 0)
                (void) snprintf(ret_uuid, 41, "%s", strempty(crypt_get_uuid(cd)));
        return r;
}

static bool size_allowed(uint64_t size) {
        for (size_t i = 0; i < ELEMENTSOF(hdr_sizes); i++)
                if (size == hdr_sizes[i])
                        return true;
        return false;
}

int luks2_copy_checksum(const uint8_t *copy, uint64_t size, uint8_t ret[static LUKS2_CSUM_LEN]) {
        static const uint8_t zeros[CSUM_LEN];
        EVP_MD_CTX *ctx = NULL;
        const EVP_MD *alg;
        char name[33];
        int r = -EIO;

        if (size < BIN_LEN)
                return -EINVAL;
        memcpy(name, copy + 72, 32);
        name[32] = '\0';
        alg = EVP_get_digestbyname(name);
        if (!alg || EVP_MD_get_size(alg) > CSUM_LEN)
                return -EINVAL;
        memset(ret, 0, LUKS2_CSUM_LEN);
        ctx = EVP_MD_CTX_new();
        if (ctx && EVP_DigestInit_ex(ctx, alg, NULL) == 1 && EVP_DigestUpdate(ctx, copy, CSUM_OFFSET) == 1 &&
            EVP_DigestUpdate(ctx, zeros, CSUM_LEN) == 1 &&
            EVP_DigestUpdate(ctx, copy + CSUM_OFFSET + CSUM_LEN, size - CSUM_OFFSET - CSUM_LEN) == 1 &&
            EVP_DigestFinal_ex(ctx, ret, NULL) == 1)
                r = EVP_MD_get_size(alg);
        EVP_MD_CTX_free(ctx);
        return r;
}

/* The copy at offset: its magic, identity, and whether its checksum (over the whole copy, the
 * checksum field zeroed) matches. */
static int copy_read(int fd, uint64_t offset, const char magic[static 6], HeaderCopy *ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t h[BIN_LEN], md[LUKS2_CSUM_LEN];
        uint64_t v;
        ssize_t k;
        int n;

        *ret = (HeaderCopy) { .offset = offset };
        k = pread(fd, h, sizeof(h), (off_t) offset);
        if (k < 0)
                return -errno;
        if (k != (ssize_t) sizeof(h) || memcmp(h, magic, 6) != 0 || h[6] != 0 || h[7] != 2)
                return 0;
        ret->present = true;
        memcpy(&v, h + 8, 8);
        ret->size = be64toh(v);
        memcpy(&v, h + 16, 8);
        ret->seqid = be64toh(v);
        memcpy(ret->uuid, h + 168, 40);
        ret->uuid[40] = '\0';
        memcpy(&v, h + 256, 8);
        if (!size_allowed(ret->size) || be64toh(v) != offset)
                return 0;

        buf = malloc(ret->size);
        if (!buf)
                return -ENOMEM;
        k = pread(fd, buf, ret->size, (off_t) offset);
        if (k < 0)
                return -errno;
        if ((uint64_t) k != ret->size || (n = luks2_copy_checksum(buf, ret->size, md)) < 0)
                return 0;
        ret->valid = memcmp(md, h + CSUM_OFFSET, (size_t) n) == 0;
        return 0;
}

/* Both copies: the primary at 0; the secondary where the primary's size says, else at the first
 * offset the LUKS2 format allows where one is found. */
static int copies_read(const char *path, HeaderCopy ret[static 2]) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int r;

        if (fd < 0)
                return -errno;
        r = copy_read(fd, 0, "LUKS\xba\xbe", &ret[0]);
        if (r < 0)
                return r;
        if (ret[0].present && size_allowed(ret[0].size)) {
                r = copy_read(fd, ret[0].size, "SKUL\xba\xbe", &ret[1]);
                if (r < 0 || ret[1].present)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(hdr_sizes); i++) {
                r = copy_read(fd, hdr_sizes[i], "SKUL\xba\xbe", &ret[1]);
                if (r < 0 || ret[1].present)
                        return r;
        }
        ret[1] = (HeaderCopy) {};
        return 0;
}

static void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

/* What libblkid finds on path besides LUKS (what made libcryptsetup call the device ambiguous):
 * up to MAX_FOUND signatures with where their magic is. */
static int foreign_signatures(const char *path, Signature ret[static MAX_FOUND], size_t *ret_n) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        char *luks[] = { (char *) "crypto_LUKS", NULL };
        size_t n = 0;
        int r;

        pr = blkid_new_probe_from_filename(path);
        if (!pr)
                return errno > 0 ? -errno : -EIO;
        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_MAGIC);
        (void) blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_NOTIN, luks);
        (void) blkid_probe_enable_partitions(pr, 1);
        (void) blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);

        while (n < MAX_FOUND && (r = blkid_do_probe(pr)) == 0) {
                const char *type = NULL, *off = NULL;

                if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 &&
                    blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) < 0)
                        continue;
                if (blkid_probe_lookup_value(pr, "SBMAGIC_OFFSET", &off, NULL) < 0)
                        (void) blkid_probe_lookup_value(pr, "PTMAGIC_OFFSET", &off, NULL);
                (void) snprintf(ret[n].type, sizeof(ret[n].type), "%s", type);
                ret[n].offset = off ? strtoull(off, NULL, 10) : UINT64_MAX;
                n++;
        }
        if (n == 0 && r < 0)
                return -EIO;
        *ret_n = n;
        return 0;
}

static void signatures_describe(const Signature *s, size_t n, char *buf, size_t size) {
        size_t used = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && used < size; i++) {
                int k = s[i].offset == UINT64_MAX
                                ? snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s[i].type)
                                : snprintf(buf + used, size - used, "%s%s at byte %" PRIu64, i ? ", " : "", s[i].type,
                                           s[i].offset);
                if (k < 0)
                        break;
                used += (size_t) k;
        }
}

static const char *copy_name(const HeaderCopy *c) {
        return c->offset == 0 ? "primary" : "secondary";
}

/* One copy good, the other torn: rewrite the torn one from the good one when that is provably
 * safe (see the header), then check both. */
static int repair_torn_copy(const char *path, const char *display, const char *expected_uuid, const HeaderCopy *good,
                            const HeaderCopy *torn, bool may_repair, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        uint64_t from = torn->offset, to = torn->offset + good->size;
        Signature found[MAX_FOUND];
        HeaderCopy after[2];
        char what[256];
        size_t n = 0;
        int r;

        if (!expected_uuid || !expected_uuid[0])
                return ns_error_set(error, -EUCLEAN,
                                    "The %s LUKS2 header copy on %s is torn and the %s one (UUID %s) is whole, but no format record "
                                    "or mapping names the UUID this device must carry: not repairing it on a guess (nothing written). "
                                    "If this is the volume's disk, run cryptsetup repair %s",
                                    copy_name(torn), display, copy_name(good), good->uuid, display);
        if (!luks_uuid_same(good->uuid, expected_uuid))
                return ns_error_set(error, -EUCLEAN,
                                    "The whole LUKS2 header copy on %s has UUID %s, not %s as expected: another volume's header? "
                                    "refusing (nothing written)",
                                    display, good->uuid, expected_uuid);
        r = foreign_signatures(path, found, &n);
        if (r < 0)
                return ns_error_set(error, r, "Cannot probe %s for other signatures: %s", display, strerror(-r));
        signatures_describe(found, n, what, sizeof(what));
        for (size_t i = 0; i < n; i++)
                if (found[i].offset < from || found[i].offset >= to)
                        return ns_error_set(error, -EUCLEAN,
                                            "The %s LUKS2 header copy on %s (UUID %s) is torn, the %s one whole, and libblkid also finds %s "
                                            "outside the torn copy (bytes %" PRIu64 "-%" PRIu64 "): something else wrote this disk. Refusing to "
                                            "repair it (nothing written): find out what wrote there; if the volume's data is what you need, "
                                            "run cryptsetup repair %s",
                                            copy_name(torn), display, good->uuid, copy_name(good), what, from, to - 1, display);
        if (!may_repair)
                return ns_error_set(error, -EUCLEAN,
                                    "The %s LUKS2 header copy on %s (UUID %s) is torn (an interrupted metadata write), the %s one whole%s%s: "
                                    "libcryptsetup will not recover it by itself; nodeseal provision (or the daemon's next attempt) "
                                    "rewrites it from the whole copy",
                                    copy_name(torn), display, good->uuid, copy_name(good), n ? "; libblkid reads it as " : "", what);

        log_warning("The %s LUKS2 header copy on %s (UUID %s) is torn%s%s; rewriting it from the %s copy (seqid %" PRIu64 ").",
                    copy_name(torn), display, good->uuid, n ? ", read by libblkid as " : "", what, copy_name(good), good->seqid);
        r = crypt_init(&cd, path);
        if (r >= 0)
                r = crypt_repair(cd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Repairing the LUKS2 header of %s failed: %s", display, strerror(-r));
        r = copies_read(path, after);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the LUKS2 header of %s again: %s", display, strerror(-r));
        if (!after[0].valid || !after[1].valid || !luks_uuid_same(after[0].uuid, expected_uuid) ||
            !luks_uuid_same(after[1].uuid, expected_uuid) || after[0].seqid != after[1].seqid || after[0].seqid < good->seqid)
                return ns_error_set(error, -EIO, "The LUKS2 header of %s does not check after the repair; refusing to use it", display);
        return 1;
}

int header_repair_examine(const char *path, const char *display, const char *expected_uuid, bool may_repair,
                          NsError *error) {
        HeaderCopy c[2];
        Capture cap;
        char uuid[41] = "";
        int r, loaded;

        loaded = load_captured(path, &cap, uuid);
        if (loaded >= 0) {
                if (expected_uuid && expected_uuid[0] && !luks_uuid_same(uuid, expected_uuid))
                        return ns_error_set(error, -EUCLEAN, "The LUKS2 header on %s has UUID %s, not %s as expected; refusing",
                                            display, uuid, expected_uuid);
                if (strstr(cap.text, "requires recovery"))
                        log_info("libcryptsetup recovered a torn LUKS2 header copy of %s (%s).", display, cap.text);
                return 0;
        }

        r = copies_read(path, c);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the LUKS2 header of %s: %s", display, strerror(-r));
        if (!c[0].present && !c[1].present)
                return ns_error_set(error, -EMEDIUMTYPE, "%s carries no LUKS2 header", display);
        if (!c[0].valid && !c[1].valid)
                return ns_error_set(error, -EUCLEAN,
                                    "Both copies of the LUKS2 header on %s are damaged (libcryptsetup: %s); refusing (nothing written). "
                                    "Restore the header backup with nodeseal recover, or cryptsetup luksHeaderRestore",
                                    display, cap.text[0] ? cap.text : strerror(-loaded));
        if (c[0].valid && c[1].valid)
                return ns_error_set(error, loaded,
                                    "Both copies of the LUKS2 header on %s (UUID %s, seqid %" PRIu64 ") check, yet it does not load: %s",
                                    display, c[0].uuid, c[0].seqid, cap.text[0] ? cap.text : strerror(-loaded));
        return repair_torn_copy(path, display, expected_uuid, c[0].valid ? &c[0] : &c[1], c[0].valid ? &c[1] : &c[0],
                                may_repair, error);
}

/* "CRYPT-LUKS2-<uuid without dashes>-<name>": the LUKS UUID device-mapper was given at activation. */
static int mapping_uuid(const char *name, char ret[static 41], NsError *error) {
        char path[PATH_MAX], dm[256];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        const char *p;
        ssize_t n;
        size_t len;

        (void) snprintf(path, sizeof(path), "%s/%s", crypt_get_dir(), name);
        if (stat(path, &st) < 0)
                return ns_error_set(error, -errno, "%s: %s", path, strerror(errno));
        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/uuid", major(st.st_rdev), minor(st.st_rdev));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ns_error_set(error, -errno, "Cannot read the device-mapper UUID of %s: %s", name, strerror(errno));
        n = read(fd, dm, sizeof(dm) - 1);
        if (n < 0)
                return ns_error_set(error, -errno, "Cannot read the device-mapper UUID of %s: %s", name, strerror(errno));
        dm[n] = '\0';
        dm[strcspn(dm, "\n")] = '\0';
        if (!strneq(dm, "CRYPT-LUKS", 10) || !(p = strchr(dm + 10, '-')))
                return ns_error_set(error, -EEXIST, "%s is active but is not a LUKS mapping (device-mapper UUID \"%s\")", name, dm);
        p++;
        len = strcspn(p, "-");
        if (len == 0 || len > 40)
                return ns_error_set(error, -EEXIST, "%s is active but its device-mapper UUID \"%s\" names no LUKS UUID", name, dm);
        (void) snprintf(ret, 41, "%.*s", (int) len, p);
        return 0;
}

int header_repair_mapping(const char *name, const char *data_device, bool may_repair, NsError *error) {
        NsError e = {};
        char uuid[41];
        int r;

        r = mapping_uuid(name, uuid, error);
        if (r < 0)
                return r;
        if (!data_device)
                return ns_error_set(error, -ENXIO, "%s is active but libcryptsetup names no device under it", name);
        r = header_repair_examine(data_device, data_device, uuid, may_repair, &e);
        if (r == -EMEDIUMTYPE)
                /* What a device path re-pointed between loading the header and activating once
                 * made: this header's mapping over another disk, which nothing here may write. */
                return ns_error_set(error, -EEXIST,
                                    "%s is mapped with LUKS %s over %s, which carries no LUKS2 header: a mapping over the wrong "
                                    "disk (what a device path re-pointed while it was being opened leaves). Refusing to touch it: unmount it, "
                                    "cryptsetup close %s, check the configured device, and run again",
                                    name, uuid, data_device, name);
        if (r < 0) {
                if (error && !ns_error_is_set(error))
                        *error = e;
                return ns_error_prefix(error, r, "%s is active (LUKS %s) but its header does not load", name, uuid);
        }
        return r;
}
