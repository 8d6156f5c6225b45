/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a format record as read back from the keys Secret or the secrets directory
 * ({"uuid": ..., "time": ..., "device": ...}), into buffers of the sizes nodeseal uses and into
 * the smallest ones it accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a caller relies on: terminated strings within the buffer, and a uuid of the LUKS form. */
static void check_string(const char *s, size_t size) {
        if (size > 0 && strnlen(s, size) == size)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FormatRecord rec = {};
        char uuid[37], t[1], dev[1];
        int r;

        r = format_record_parse((const char *) data, size, rec.uuid, sizeof(rec.uuid), rec.begun, sizeof(rec.begun),
                                rec.device, sizeof(rec.device));
        if (r >= 0) {
                check_string(rec.uuid, sizeof(rec.uuid));
                check_string(rec.begun, sizeof(rec.begun));
                check_string(rec.device, sizeof(rec.device));
                if (strlen(rec.uuid) != 36)
                        abort();
        } else if (r != -EBADMSG)
                abort();

        /* The "formatted" record: no device wanted; and the least room a caller may give. */
        (void) format_record_parse((const char *) data, size, uuid, sizeof(uuid), NULL, 0, NULL, 0);
        if (format_record_parse((const char *) data, size, uuid, sizeof(uuid), t, sizeof(t), dev, sizeof(dev)) >= 0 &&
            (t[0] != '\0' || dev[0] != '\0'))
                abort();
        if (r >= 0) {
                char buf[256];
                format_record_describe(&rec, buf, sizeof(buf));
        }
        return 0;
}
