/* SPDX-License-Identifier: Apache-2.0 */
/* Format records: write-once keys beside the volume key, read back before anything is formatted. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "format-record.h"
#include "json-util.h"
#include "log.h"
#include "time-util.h"

#define RECORD_MAX 1024

static bool uuid_is_valid(const char *u) {
        if (strlen(u) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? u[i] != '-' : !strchr("0123456789abcdefABCDEF", u[i]))
                        return false;
        }
        return true;
}

int format_record_new_uuid(char buf[static 37]) {
        uint8_t b[16];
        int r;

        r = random_bytes(b, sizeof(b));
        if (r < 0)
                return r;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        (void) snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                        b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return 0;
}

static void copy_string(const cJSON *o, const char *name, char *buf, size_t size) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);

        if (buf && size > 0)
                (void) snprintf(buf, size, "%s", cJSON_IsString(j) ? j->valuestring : "");
}

int format_record_parse(const char *text, size_t size, char *ret_uuid, size_t uuid_size, char *ret_time,
                        size_t time_size, char *ret_device, size_t device_size) {
        _cleanup_(cJSON_Deletep) cJSON *o = NULL;
        const cJSON *uuid;

        if (size > RECORD_MAX)
                return -EBADMSG;
        o = cJSON_ParseWithLength(text, size);
        if (!cJSON_IsObject(o))
                return -EBADMSG;
        uuid = cJSON_GetObjectItemCaseSensitive(o, "uuid");
        if (!cJSON_IsString(uuid) || !uuid_is_valid(uuid->valuestring) || uuid_size < 37)
                return -EBADMSG;
        (void) snprintf(ret_uuid, uuid_size, "%s", uuid->valuestring);
        copy_string(o, "time", ret_time, time_size);
        copy_string(o, "device", ret_device, device_size);
        return 0;
}

static void record_key(const VolumeConfig *v, const char *suffix, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s", v->key ?: v->name, suffix);
}

/* 0 and *ret_value, or -ENOKEY when the key (or the whole Secret) is not there. */
static int read_key(SecretSource *s, const VolumeConfig *v, const char *suffix, SecretValue **ret_value,
                    NsError *error) {
        char key[256];
        NsError e = {};
        int r;

        record_key(v, suffix, key, sizeof(key));
        r = secret_source_get(s, s->config->secrets.keys_secret, key, ret_value, &e);
        if (r == -ENOENT || r == -ENOKEY)
                return -ENOKEY;
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the format record \"%s\" of volume %s: %s", key, v->name,
                                    e.message);
        return 0;
}

static int parse_value(SecretSource *s, const VolumeConfig *v, const char *suffix, const SecretValue *value, char *uuid, char *time,
                       size_t time_size, char *device, size_t device_size, NsError *error) {
        char key[256];

        record_key(v, suffix, key, sizeof(key));
        if (format_record_parse((const char *) value->data, value->size, uuid, 40, time, time_size, device,
                                device_size) < 0)
                return ns_error_set(error, -EBADMSG,
                                    "The format record \"%s\" of volume %s in Secret %s is not a JSON object with a LUKS \"uuid\"; refusing to decide about the device",
                                    key, v->name, s->config->secrets.keys_secret);
        return 0;
}

int format_record_read(SecretSource *s, const VolumeConfig *v, FormatRecord *ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *begun = NULL, *done = NULL;
        FormatRecord rec = {};
        char done_uuid[40];
        int r;

        (void) snprintf(rec.secret, sizeof(rec.secret), "%s", s->config->secrets.keys_secret);
        secret_source_invalidate(s);
        r = read_key(s, v, FORMAT_RECORD_BEGUN_SUFFIX, &begun, error);
        if (r < 0 && r != -ENOKEY)
                return r;
        if (r == 0) {
                r = parse_value(s, v, FORMAT_RECORD_BEGUN_SUFFIX, begun, rec.uuid, rec.begun, sizeof(rec.begun),
                                rec.device, sizeof(rec.device), error);
                if (r < 0)
                        return r;
        }
        r = read_key(s, v, FORMAT_RECORD_DONE_SUFFIX, &done, error);
        if (r < 0 && r != -ENOKEY)
                return r;
        if (r == 0) {
                r = parse_value(s, v, FORMAT_RECORD_DONE_SUFFIX, done, done_uuid, rec.done_at, sizeof(rec.done_at),
                                NULL, 0, error);
                if (r < 0)
                        return r;
                if (rec.uuid[0] && strcasecmp(done_uuid, rec.uuid) != 0)
                        return ns_error_set(error, -EBADMSG,
                                            "The format records of volume %s disagree: begun as LUKS %s, completed as %s; refusing to decide about the device",
                                            v->name, rec.uuid, done_uuid);
                if (!rec.uuid[0])
                        memcpy(rec.uuid, done_uuid, sizeof(rec.uuid));
                rec.done = true;
        }
        *ret = rec;
        return rec.uuid[0] ? 1 : 0;
}

/* Stores value under "<key><suffix>" unless present; returns what is stored. */
static int store(SecretSource *s, const VolumeConfig *v, const char *suffix, cJSON *o, SecretValue **ret_stored,
                 NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *value = NULL;
        _cleanup_free_ char *text = NULL;
        char key[256];
        NsError e = {};
        int r;

        text = cJSON_PrintUnformatted(o);
        if (!text)
                return -ENOMEM;
        r = secret_value_new_copy(text, strlen(text), &value);
        if (r < 0)
                return r;
        record_key(v, suffix, key, sizeof(key));
        r = secret_source_put_record(s, s->config->secrets.keys_secret, key, value, ret_stored, &e);
        if (r < 0)
                return ns_error_set(error, r,
                                    "Cannot store the format record \"%s\" of volume %s in Secret %s, so nothing is formatted: %s",
                                    key, v->name, s->config->secrets.keys_secret, e.message);
        return 0;
}

static cJSON *record_json(const char *uuid, const char *device) {
        cJSON *o = cJSON_CreateObject();
        char now[32];

        (void) format_iso8601_usec(now_usec(CLOCK_REALTIME), false, now, sizeof(now));
        if (!o || !cJSON_AddStringToObject(o, "uuid", uuid) || !cJSON_AddStringToObject(o, "time", now) ||
            (device && !cJSON_AddStringToObject(o, "device", device))) {
                cJSON_Delete(o);
                return NULL;
        }
        return o;
}

int format_record_begin(SecretSource *s, const VolumeConfig *v, const char *uuid, const char *device,
                        FormatRecord *ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *stored = NULL;
        _cleanup_(cJSON_Deletep) cJSON *o = NULL;
        FormatRecord rec = {};
        int r;

        o = record_json(uuid, device);
        if (!o)
                return -ENOMEM;
        r = store(s, v, FORMAT_RECORD_BEGUN_SUFFIX, o, &stored, error);
        if (r < 0)
                return r;
        /* Read back: that, not what we sent, is the record (a rerun after a crash finds its own). */
        r = parse_value(s, v, FORMAT_RECORD_BEGUN_SUFFIX, stored, rec.uuid, rec.begun, sizeof(rec.begun), rec.device,
                        sizeof(rec.device), error);
        if (r < 0)
                return r;
        log_debug("Volume %s: format record stored: LUKS %s.", v->name, rec.uuid);
        *ret = rec;
        return 0;
}

int format_record_complete(SecretSource *s, const VolumeConfig *v, const char *uuid, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *stored = NULL;
        _cleanup_(cJSON_Deletep) cJSON *o = NULL;
        char stored_uuid[40];
        int r;

        o = record_json(uuid, NULL);
        if (!o)
                return -ENOMEM;
        r = store(s, v, FORMAT_RECORD_DONE_SUFFIX, o, &stored, error);
        if (r < 0)
                return r;
        r = parse_value(s, v, FORMAT_RECORD_DONE_SUFFIX, stored, stored_uuid, NULL, 0, NULL, 0, error);
        if (r < 0)
                return r;
        if (strcasecmp(stored_uuid, uuid) != 0)
                return ns_error_set(error, -EBADMSG, "Volume %s: the format record says LUKS %s was completed, not %s",
                                    v->name, stored_uuid, uuid);
        return 0;
}

void format_record_describe(const FormatRecord *r, char *buf, size_t size) {
        if (r->done)
                (void) snprintf(buf, size, "was formatted as LUKS %s on %s", r->uuid, r->done_at[0] ? r->done_at : r->begun);
        else
                (void) snprintf(buf, size, "began a format as LUKS %s on %s that never completed", r->uuid,
                                r->begun[0] ? r->begun : "an unknown date");
}
