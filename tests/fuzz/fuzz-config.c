/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the JSON configuration parser and validator. */
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config *c = NULL;
        NsError e = {};

        setenv("NODE_NAME", "fuzz-node", 0);
        if (config_parse((const char *) data, size, "fuzz.json", &c, &e) >= 0)
                config_free(c);
        return 0;
}
