/* SPDX-License-Identifier: Apache-2.0 */
/* The last header write of a re-encryption, made again when a kill came before it.
 *
 * What libcryptsetup's last writes leave (lib/luks2/luks2_reencrypt.c, reencrypt_teardown_ok):
 * after the last hotzone the data segment is the final one; then each key slot of the old volume
 * key is destroyed (a header write each); then, in one write, the backup segments
 * ("backup-previous", "backup-final"), the requirement "online-reencrypt-v2" and the re-encryption
 * key slot go. Between the two, the header still asks for both volume keys, and no key slot holds
 * the old one. What the missing write does is fully determined by the header itself, so it is
 * made here from the header's own JSON, checked by libcryptsetup before anything is written. */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypt-util.h"
#include "header-repair.h"
#include "json-util.h"
#include "log.h"
#include "reencrypt-finish.h"
#include "reencrypt-stack.h"
#include "seam.h"

#define BIN_LEN 4096
#define SEQID_OFFSET 16
#define UUID_OFFSET 168
#define CSUM_OFFSET 448
#define CSUM_LEN LUKS2_CSUM_LEN
#define AREA_MAX (UINT64_C(1) << 30)

typedef struct Layout {
        const char *live, *final, *previous;   /* segment ids */
        const char *d_new, *d_old;             /* digest ids */
        const char *reenc_slot;                /* the re-encryption key slot's id */
        unsigned new_slots;                    /* key slots bound to the new digest */
} Layout;

static bool string_member_eq(const cJSON *a, const cJSON *b, const char *name) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, name), *y = cJSON_GetObjectItemCaseSensitive(b, name);

        if (cJSON_IsString(x) && cJSON_IsString(y))
                return streq(x->valuestring, y->valuestring);
        if (cJSON_IsNumber(x) && cJSON_IsNumber(y))
                return x->valuedouble == y->valuedouble;
        return !x && !y;
}

static bool array_has(const cJSON *array, const char *s) {
        const cJSON *i;

        cJSON_ArrayForEach(i, array)
                if (cJSON_IsString(i) && streq(i->valuestring, s))
                        return true;
        return false;
}

/* The one flag of a segment, "" for none, NULL for more than one or not strings. */
static const char *segment_flag(const cJSON *seg) {
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(seg, "flags");

        if (!flags)
                return "";
        if (!cJSON_IsArray(flags) || cJSON_GetArraySize(flags) > 1)
                return NULL;
        if (cJSON_GetArraySize(flags) == 0)
                return "";
        return cJSON_GetStringValue(cJSON_GetArrayItem(flags, 0));
}

const char *luks2_digest_of_segment(const cJSON *digests, const char *id) {
        const char *found = NULL;
        const cJSON *d;

        cJSON_ArrayForEach(d, digests)
                if (array_has(cJSON_GetObjectItemCaseSensitive(d, "segments"), id)) {
                        if (found)
                                return NULL;
                        found = d->string;
                }
        return found;
}

/* 1 when the JSON is the interrupted end of a re-encryption, 0 when it is not (nothing to do here:
 * no re-encryption, or one whose old volume key a slot still holds), < 0 when it is like it but
 * not provably finished. */
static int layout_judge(const cJSON *root, Layout *ret, char *why, size_t size) {
        const cJSON *keyslots = cJSON_GetObjectItemCaseSensitive(root, "keyslots"),
                    *segments = cJSON_GetObjectItemCaseSensitive(root, "segments"),
                    *digests = cJSON_GetObjectItemCaseSensitive(root, "digests"),
                    *config = cJSON_GetObjectItemCaseSensitive(root, "config"), *reqs, *s, *k, *d_old, *d_new;
        const char *fields[] = { "type", "offset", "size", "iv_tweak", "encryption", "sector_size" };
        Layout l = {};
        unsigned reenc = 0, nseg = 0;

        reqs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "requirements"), "mandatory");
        if (!array_has(reqs, "online-reencrypt-v2") && !array_has(reqs, "online-reencrypt-v3") && !array_has(reqs, "online-reencrypt"))
                return 0;
        cJSON_ArrayForEach(k, keyslots)
                if (streq(strempty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "type"))), "reencrypt")) {
                        reenc++;
                        l.reenc_slot = k->string;
                }
        cJSON_ArrayForEach(s, segments) {
                const char *flag = segment_flag(s);

                nseg++;
                if (!flag)
                        return snprintf(why, size, "segment %s has flags nodeseal does not know", s->string), -EUCLEAN;
                if (streq(flag, ""))
                        l.live = l.live ? "" : s->string;
                else if (streq(flag, "backup-final"))
                        l.final = s->string;
                else if (streq(flag, "backup-previous"))
                        l.previous = s->string;
                else
                        return snprintf(why, size, "segment %s is a \"%s\" segment (a data shift)", s->string, flag), -EUCLEAN;
        }
        if (!l.previous || !cJSON_IsObject(digests))
                return 0;
        l.d_old = luks2_digest_of_segment(digests, l.previous);
        d_old = l.d_old ? cJSON_GetObjectItemCaseSensitive(digests, l.d_old) : NULL;
        if (!d_old)
                return 0;
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d_old, "keyslots")) > 0)
                return 0;   /* a key slot still holds the old volume key: libcryptsetup resumes it */

        /* No key slot holds the old volume key: from here on, only a finished layout is accepted. */
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(config, "requirements"))
                if (!k->string || !streq(k->string, "mandatory"))
                        return snprintf(why, size, "its requirements hold \"%.32s\", which nodeseal does not know", strempty(k->string)), -EUCLEAN;
        cJSON_ArrayForEach(k, reqs)
                if (!strneq(strempty(cJSON_GetStringValue(k)), "online-reencrypt", 16))
                        return snprintf(why, size, "it has the requirement \"%.32s\", which nodeseal does not know",
                                        strempty(cJSON_GetStringValue(k))), -EUCLEAN;
        if (reenc != 1)
                return snprintf(why, size, "%u re-encryption key slots", reenc), -EUCLEAN;
        k = cJSON_GetObjectItemCaseSensitive(keyslots, l.reenc_slot);
        if (!streq(strempty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "mode"))), "reencrypt"))
                return snprintf(why, size, "the re-encryption is not a change of volume key (mode \"%s\")",
                                strempty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "mode")))), -EUCLEAN;
        if (nseg != 3 || !l.live || !l.live[0] || !l.final)
                return snprintf(why, size, "%u segments, not one data segment with its two backups: the data is not all under one volume key",
                                nseg), -EUCLEAN;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (!string_member_eq(cJSON_GetObjectItemCaseSensitive(segments, l.live),
                                      cJSON_GetObjectItemCaseSensitive(segments, l.final), fields[i]))
                        return snprintf(why, size, "the data segment differs from the final one in \"%s\": the re-encryption did not reach its end",
                                        fields[i]), -EUCLEAN;
        l.d_new = luks2_digest_of_segment(digests, l.live);
        d_new = l.d_new ? cJSON_GetObjectItemCaseSensitive(digests, l.d_new) : NULL;
        if (!d_new || streq(l.d_new, l.d_old) || !array_has(cJSON_GetObjectItemCaseSensitive(d_new, "segments"), l.final))
                return snprintf(why, size, "the data segment's digest is not the final segment's"), -EUCLEAN;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(d_new, "keyslots")) {
                const cJSON *slot = cJSON_GetObjectItemCaseSensitive(keyslots, strempty(cJSON_GetStringValue(k)));

                if (streq(strempty(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(slot, "type"))), "luks2"))
                        l.new_slots++;
        }
        if (strlen(l.reenc_slot) > 15 || strlen(l.final) > 15 || strlen(l.previous) > 15)
                return snprintf(why, size, "its key slot and segment names are not LUKS2 numbers"), -EUCLEAN;
        if (l.new_slots == 0)
                return snprintf(why, size, "no key slot holds the new volume key either"), -EUCLEAN;
        *ret = l;
        return 1;
}

static void array_remove_string(cJSON *array, const char *s) {
        for (int i = cJSON_GetArraySize(array) - 1; i >= 0; i--)
                if (streq(strempty(cJSON_GetStringValue(cJSON_GetArrayItem(array, i))), s))
                        cJSON_DeleteItemFromArray(array, i);
}

/* What libcryptsetup's last write would leave: without the re-encryption key slot, the backup
 * segments, the digests then bound to nothing, and the requirement. */
static void layout_finish(cJSON *root, const Layout *layout) {
        /* The ids are names of the members deleted below: copied first. */
        struct { char reenc_slot[16], final[16], previous[16]; } ids, *l = &ids;
        cJSON *digests = cJSON_GetObjectItemCaseSensitive(root, "digests"), *d, *next, *t;
        cJSON *config = cJSON_GetObjectItemCaseSensitive(root, "config");
        cJSON *reqs = cJSON_GetObjectItemCaseSensitive(config, "requirements");
        cJSON *mandatory = cJSON_GetObjectItemCaseSensitive(reqs, "mandatory");

        (void) snprintf(ids.reenc_slot, sizeof(ids.reenc_slot), "%s", layout->reenc_slot);
        (void) snprintf(ids.final, sizeof(ids.final), "%s", layout->final);
        (void) snprintf(ids.previous, sizeof(ids.previous), "%s", layout->previous);

        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "keyslots"), l->reenc_slot);
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "segments"), l->final);
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "segments"), l->previous);
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "tokens"))
                array_remove_string(cJSON_GetObjectItemCaseSensitive(t, "keyslots"), l->reenc_slot);
        for (d = digests ? digests->child : NULL; d; d = next) {
                next = d->next;
                array_remove_string(cJSON_GetObjectItemCaseSensitive(d, "keyslots"), l->reenc_slot);
                array_remove_string(cJSON_GetObjectItemCaseSensitive(d, "segments"), l->final);
                array_remove_string(cJSON_GetObjectItemCaseSensitive(d, "segments"), l->previous);
                if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "keyslots")) == 0 &&
                    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "segments")) == 0)
                        cJSON_Delete(cJSON_DetachItemViaPointer(digests, d));
        }
        array_remove_string(mandatory, "online-reencrypt-v2");
        array_remove_string(mandatory, "online-reencrypt-v3");
        array_remove_string(mandatory, "online-reencrypt");
        if (mandatory && cJSON_GetArraySize(mandatory) == 0)
                cJSON_DeleteItemFromObjectCaseSensitive(reqs, "mandatory");
        if (reqs && !reqs->child)
                cJSON_DeleteItemFromObjectCaseSensitive(config, "requirements");
}

/* Both copies whole, alike, of uuid: their size and JSON (a copy of the primary's). */
static int copies_check(const uint8_t *area, uint64_t area_size, const char *uuid, uint64_t *ret_hdr_size, char **ret_json,
                        char *why, size_t size) {
        uint64_t hs, v, seq[2];
        uint8_t sum[CSUM_LEN];

        if (area_size < 2 * BIN_LEN || memcmp(area, "LUKS\xba\xbe\0\2", 8) != 0)
                return snprintf(why, size, "its primary header copy is not a LUKS2 one"), -EUCLEAN;
        memcpy(&v, area + 8, 8);
        hs = be64toh(v);
        if (hs < 0x4000 || hs > 0x400000 || (hs & (hs - 1)) || 2 * hs > area_size)
                return snprintf(why, size, "its header size %" PRIu64 " is not one LUKS2 allows", hs), -EUCLEAN;
        if (memcmp(area + hs, "SKUL\xba\xbe\0\2", 8) != 0)
                return snprintf(why, size, "its secondary header copy is not where the primary says"), -EUCLEAN;
        for (int i = 0; i < 2; i++) {
                if (luks2_copy_checksum(area + i * hs, hs, sum) < 0 || memcmp(sum, area + i * hs + CSUM_OFFSET, CSUM_LEN) != 0)
                        return snprintf(why, size, "its %s header copy does not match its checksum", i ? "secondary" : "primary"), -EUCLEAN;
                memcpy(&v, area + i * hs + SEQID_OFFSET, 8);
                seq[i] = be64toh(v);
                if (strncmp((const char *) area + i * hs + UUID_OFFSET, uuid, 40) != 0)
                        return snprintf(why, size, "its %s header copy carries another UUID than the header loaded",
                                        i ? "secondary" : "primary"), -ESTALE;
        }
        if (seq[0] != seq[1] || memcmp(area + BIN_LEN, area + hs + BIN_LEN, hs - BIN_LEN) != 0)
                return snprintf(why, size, "its two header copies differ (sequence numbers %" PRIu64 " and %" PRIu64 ")", seq[0], seq[1]),
                       -EUCLEAN;
        *ret_hdr_size = hs;
        *ret_json = strndup((const char *) area + BIN_LEN, hs - BIN_LEN);
        return *ret_json ? 0 : -ENOMEM;
}

/* The new JSON into both copies of area, sequence number one up, checksums made again. */
static int copies_write(uint8_t *area, uint64_t hs, const char *json) {
        size_t n = strlen(json);
        uint64_t v;
        int r;

        if (n >= hs - BIN_LEN)
                return -E2BIG;
        for (int i = 0; i < 2; i++) {
                uint8_t *copy = area + i * hs, sum[CSUM_LEN];

                memset(copy + BIN_LEN, 0, hs - BIN_LEN);
                memcpy(copy + BIN_LEN, json, n);
                memcpy(&v, copy + SEQID_OFFSET, 8);
                v = htobe64(be64toh(v) + 1);
                memcpy(copy + SEQID_OFFSET, &v, 8);
                r = luks2_copy_checksum(copy, hs, sum);
                if (r < 0)
                        return r;
                memcpy(copy + CSUM_OFFSET, sum, CSUM_LEN);
        }
        return 0;
}

static int read_area(const char *path, uint64_t size, uint8_t **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ uint8_t *buf = NULL;
        ssize_t k;

        if (fd < 0)
                return negative_errno();
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        k = pread(fd, buf, size, 0);
        if (k < 0)
                return negative_errno();
        if ((uint64_t) k != size)
                return -EIO;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The finished header in a memory file, loaded by libcryptsetup: it must need nothing, carry the
 * same UUID and data offset, and open with key. */
static int candidate_check(struct crypt_device *cd, int memfd, const SecretValue *key, char *why, size_t size) {
        _cleanup_(crypt_freep) struct crypt_device *c = NULL;
        char path[64];
        int r;

        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
        r = crypt_init(&c, path);
        if (r >= 0)
                r = crypt_load(c, CRYPT_LUKS2, NULL);
        if (r < 0)
                return snprintf(why, size, "libcryptsetup does not load the finished header: %s", strerror(-r)), r;
        if (crypt_reencrypt_status(c, NULL) != CRYPT_REENCRYPT_NONE)
                return snprintf(why, size, "the finished header still reads as in re-encryption"), -EUCLEAN;
        if (!streq(strempty(crypt_get_uuid(c)), strempty(crypt_get_uuid(cd))) ||
            crypt_get_data_offset(c) != crypt_get_data_offset(cd) ||
            !streq(strempty(crypt_get_cipher(c)), strempty(crypt_get_cipher(cd))) ||
            !streq(strempty(crypt_get_cipher_mode(c)), strempty(crypt_get_cipher_mode(cd))))
                return snprintf(why, size, "the finished header differs in UUID, data offset or cipher"), -EUCLEAN;
        r = crypt_activate_by_passphrase(c, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        if (r < 0)
                return snprintf(why, size, "the key does not open the finished header (%s)", strerror(-r)), -EKEYREJECTED;
        return 0;
}

/* A member named twice in an object: cJSON keeps both, json-c (libcryptsetup's parser) the last, so
 * the two would judge different headers, and an edit by name could hit the other one. */
static const char *duplicate_name(const cJSON *o) {
        const cJSON *a, *b;
        const char *d;

        for (a = o ? o->child : NULL; a; a = a->next) {
                if (cJSON_IsObject(o) && a->string)
                        for (b = a->next; b; b = b->next)
                                if (b->string && streq(a->string, b->string))
                                        return a->string;
                if ((d = duplicate_name(a)))
                        return d;
        }
        return NULL;
}

int reencrypt_finish_json(const char *json, char **ret_finished, char *why, size_t size) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const char *d;
        Layout l;
        int r;

        root = cJSON_Parse(json);
        if (!root || !cJSON_IsObject(root))
                return snprintf(why, size, "its LUKS2 metadata does not parse"), -EBADMSG;
        if ((d = duplicate_name(root)))
                return snprintf(why, size, "its LUKS2 metadata names \"%.32s\" twice in one object", d), -EBADMSG;
        r = layout_judge(root, &l, why, size);
        if (r <= 0 || !ret_finished)
                return r;
        layout_finish(root, &l);
        *ret_finished = cJSON_PrintUnformatted(root);
        return *ret_finished ? 1 : -ENOMEM;
}

int reencrypt_finish_interrupted(struct crypt_device *cd, const char *volume, const char *device, const SecretValue *key,
                                 NsError *error) {
        _cleanup_free_ char *json = NULL, *finished = NULL;
        _cleanup_free_ uint8_t *area = NULL, *again = NULL, *orig = NULL;
        _cleanup_close_ int memfd = -EBADF, lock = -EBADF;
        const char *path = crypt_get_metadata_device_name(cd) ?: crypt_get_device_name(cd), *uuid = crypt_get_uuid(cd);
        const char *dump = NULL;
        char why[256] = "", memfd_path[64], display[PATH_MAX + 64];
        uint64_t hs = 0, area_size;
        int r;

        if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_CLEAN || !path || !uuid)
                return 0;
        (void) snprintf(display, sizeof(display), "Volume %s (%s)", volume, device);
        r = crypt_dump_json(cd, &dump, 0);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot read its LUKS2 metadata: %s", display, strerror(-r));
        r = reencrypt_finish_json(dump, NULL, why, sizeof(why));
        if (r <= 0)
                return r == 0 ? 0 : ns_error_set(error, r,
                        "%s: its re-encryption cannot resume (no key slot holds the old volume key) and is not provably finished: %s; refusing, nothing written",
                        display, why);

        r = reencrypt_lock_take(uuid, &lock);
        if (r < 0)
                return ns_error_set(error, r, "%s: %s", display,
                                    r == -EBUSY ? "another process is re-encrypting it right now" : "cannot take libcryptsetup's re-encryption lock");

        /* The whole metadata and key slot area, from the device itself; both copies whole and alike,
         * and their JSON (what is written back, edited) in the same state. */
        area_size = crypt_get_data_offset(cd) * 512;
        if (area_size < 2 * 0x4000 || area_size > AREA_MAX)
                return ns_error_set(error, -EUCLEAN, "%s: its data offset (%" PRIu64 " bytes) leaves no room for a LUKS2 header", display,
                                    area_size);
        r = read_area(path, area_size, &area);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot read its header area: %s", display, strerror(-r));
        r = copies_check(area, area_size, uuid, &hs, &json, why, sizeof(why));
        if (r < 0)
                return ns_error_set(error, r, "%s: %s; refusing, nothing written", display, why);
        if (reencrypt_finish_json(json, &finished, why, sizeof(why)) != 1)
                return ns_error_set(error, -ESTALE, "%s: its header changed while it was examined; run again", display);

        orig = malloc(2 * hs);
        if (!orig)
                return -ENOMEM;
        memcpy(orig, area, 2 * hs);
        r = copies_write(area, hs, finished);
        if (r < 0)
                return ns_error_set(error, r, "%s: the finished metadata does not fit its header: %s", display, strerror(-r));

        memfd = memfd_create("nodeseal-luks-header", MFD_CLOEXEC);
        if (memfd < 0)
                return ns_error_set(error, -errno, "%s: memfd_create: %s", display, strerror(errno));
        if (pwrite(memfd, area, area_size, 0) != (ssize_t) area_size)
                return ns_error_set(error, -EIO, "%s: cannot build the finished header in memory", display);
        r = candidate_check(cd, memfd, key, why, sizeof(why));
        if (r < 0)
                return ns_error_set(error, r, "%s: %s; refusing, nothing written", display, why);

        seam_pause("reencrypt-finish");
        /* Again just before writing: nothing changed the header since it was read. */
        r = read_area(path, 2 * hs, &again);
        if (r < 0 || memcmp(again, orig, 2 * hs) != 0)
                return ns_error_set(error, -ESTALE, "%s: its header changed while it was examined; run again", display);

        log_warning("%s: its re-encryption had reached its end (every block is under the new volume key) but was stopped while "
                    "libcryptsetup removed its metadata: the old volume key's key slots were gone, the re-encryption record "
                    "was not, and no key opened the header. Writing the header that libcryptsetup's last step writes "
                    "(without the record, the backup segments and the old volume key's digest).", display);
        (void) snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
        r = crypt_header_restore(cd, CRYPT_LUKS2, memfd_path);
        if (r < 0)
                return ns_error_set(error, r, "%s: writing the finished header failed: %s", display, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r >= 0 && crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE)
                r = -EUCLEAN;
        if (r >= 0)
                r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        if (r < 0)
                return ns_error_set(error, r, "%s: the finished header was written but does not open: %s", display, strerror(-r));
        log_info("%s: re-encryption finished; the key opens the header, the old volume key no longer does.", display);
        return 1;
}
