/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a LUKS2 header's JSON metadata (what crypt_dump_json gives, or a header copy holds)
 * judged for a re-encryption killed in libcryptsetup's last steps, and the JSON nodeseal would
 * write back. What the writer relies on: an accepted input comes out as JSON with no
 * re-encryption key slot, no backup segment and no re-encryption requirement, which is judged
 * again as nothing to do; every refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "reencrypt-finish.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_finished(const char *json) {
        cJSON *root = cJSON_Parse(json), *i;
        char why[256] = "";

        if (!root)
                abort();
        cJSON_ArrayForEach(i, cJSON_GetObjectItemCaseSensitive(root, "keyslots"))
                if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(i, "type")) &&
                    strcmp(cJSON_GetObjectItemCaseSensitive(i, "type")->valuestring, "reencrypt") == 0)
                        abort();
        cJSON_ArrayForEach(i, cJSON_GetObjectItemCaseSensitive(root, "segments"))
                if (cJSON_GetObjectItemCaseSensitive(i, "flags") && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(i, "flags")) > 0)
                        abort();
        if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "config"), "requirements"))
                abort();
        cJSON_Delete(root);
        if (reencrypt_finish_json(json, NULL, why, sizeof(why)) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *json = malloc(size + 1), *finished = NULL, why[256] = "";
        int r;

        if (!json)
                return 0;
        memcpy(json, data, size);
        json[size] = '\0';
        r = reencrypt_finish_json(json, &finished, why, sizeof(why));
        if (r > 0)
                check_finished(finished);
        else if (r < 0 && why[0] == '\0')
                abort();
        else if (r == 0 && finished)
                abort();
        free(finished);
        free(json);
        return 0;
}
