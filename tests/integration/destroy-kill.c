/* SPDX-License-Identifier: Apache-2.0 */
/* A fault injector for the re-encryption tests, loaded with LD_PRELOAD: the process kills itself
 * with SIGKILL right after its Nth crypt_keyslot_destroy() returned (NODESEAL_FAULT_KILL_AFTER_DESTROY=N).
 * libcryptsetup calls its own exported functions through its PLT, so this sees the calls it makes
 * inside crypt_reencrypt_run() too: N=1 stops a re-encryption between the destruction of the old
 * volume key's key slot and the header write that ends it, the window a power loss can hit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>

struct crypt_device;

int crypt_keyslot_destroy(struct crypt_device *cd, int keyslot) {
        static int (*real)(struct crypt_device *, int);
        static int calls;
        const char *n = getenv("NODESEAL_FAULT_KILL_AFTER_DESTROY");
        int r;

        if (!real)
                real = (int (*)(struct crypt_device *, int)) dlsym(RTLD_NEXT, "crypt_keyslot_destroy");
        if (!real)
                abort();
        r = real(cd, keyslot);
        if (n && ++calls == atoi(n))
                (void) raise(SIGKILL);
        return r;
}
