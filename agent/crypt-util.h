/* SPDX-License-Identifier: Apache-2.0 */
/* The cleanup of a libcryptsetup context, for the modules that use one. */
#pragma once

#include <libcryptsetup.h>

static inline void crypt_freep(struct crypt_device **cd) {
        if (*cd)
                crypt_free(*cd);
}
