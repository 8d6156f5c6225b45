/* SPDX-License-Identifier: Apache-2.0 */
/* The cleanup of a libcryptsetup context, for the modules that use one. */
#pragma once

#include <libcryptsetup.h>
#include <stdbool.h>

static inline void crypt_freep(struct crypt_device **cd) {
        if (*cd)
                crypt_free(*cd);
}

/* Two LUKS UUIDs the same, in the header's form (dashes) or device-mapper's (none), in any case. */
static inline bool luks_uuid_same(const char *a, const char *b) {
        for (;; a++, b++) {
                while (*a == '-')
                        a++;
                while (*b == '-')
                        b++;
                if (!*a || !*b)
                        return !*a && !*b;
                if ((*a | 0x20) != (*b | 0x20))
                        return false;
        }
}
