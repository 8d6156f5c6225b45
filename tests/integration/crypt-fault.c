/* SPDX-License-Identifier: Apache-2.0 */
/* A fault injector for the re-encryption tests, loaded with LD_PRELOAD: the process kills itself
 * with SIGKILL at a moment inside libcryptsetup that no signal sent from outside hits on purpose.
 * libcryptsetup calls its own exported functions and libdevmapper's through the PLT, so the calls
 * it makes inside crypt_reencrypt_run() are seen here too.
 *   NODESEAL_FAULT_KILL_AFTER_DESTROY=N   right after the Nth crypt_keyslot_destroy() returned: N=1
 *       stops a re-encryption between the destruction of the old volume key's key slot and the
 *       header write that ends it (the window a power loss can hit).
 *   NODESEAL_FAULT_KILL_IN_HOTZONE=N      in the Nth hotzone of an online re-encryption, at the point
 *       NODESEAL_FAULT_HOTZONE_POINT names (each leaves part of the device stack suspended, and
 *       I/O to the volume waits):
 *         overlay-suspended  the overlay suspended for its switch to this hotzone's table
 *         suspended          the hotzone helper suspended too, the overlay not yet switched (default)
 *         switched           the overlay switched, before the header records the hotzone's checksums
 *         rewritten          the hotzone's data rewritten and synced, before the header records it done
 *         recorded           the header records it done, before the helper is resumed
 */
#include <dlfcn.h>
#include <libdevmapper.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct crypt_device;

int crypt_keyslot_destroy(struct crypt_device *cd, int keyslot);

#define REAL(name) ({                                                   \
        static __typeof__(name) *real_;                                 \
        if (!real_)                                                     \
                real_ = (__typeof__(name) *) dlsym(RTLD_NEXT, #name);   \
        if (!real_)                                                     \
                abort();                                                \
        real_;                                                          \
})

static void kill_at(const char *variable, int *calls) {
        const char *n = getenv(variable);

        if (n && ++*calls == atoi(n))
                (void) raise(SIGKILL);
}

int crypt_keyslot_destroy(struct crypt_device *cd, int keyslot) {
        static int calls;
        int r = REAL(crypt_keyslot_destroy)(cd, keyslot);

        kill_at("NODESEAL_FAULT_KILL_AFTER_DESTROY", &calls);
        return r;
}

/* The tasks of this process: their type and the mapping they name. */
static struct { struct dm_task *t; int type; int helper; } tasks[64];
enum { OTHER, HOTZONE, OVERLAY };

/* The hotzone being counted, and whether it is the one to kill in. */
static int hotzones;
static bool armed;

static void kill_at_point(const char *point) {
        const char *want = getenv("NODESEAL_FAULT_HOTZONE_POINT");

        if (armed && strcmp(want ? want : "suspended", point) == 0)
                (void) raise(SIGKILL);
}

struct dm_task *dm_task_create(int type) {
        struct dm_task *t = REAL(dm_task_create)(type);

        for (size_t i = 0; t && i < sizeof(tasks) / sizeof(tasks[0]); i++)
                if (!tasks[i].t || tasks[i].t == t) {
                        tasks[i].t = t;
                        tasks[i].type = type;
                        tasks[i].helper = OTHER;
                        break;
                }
        return t;
}

int dm_task_set_name(struct dm_task *dmt, const char *name) {
        for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
                if (tasks[i].t == dmt)
                        tasks[i].helper = !name ? OTHER : strstr(name, "-hotzone-") ? HOTZONE :
                                          strstr(name, "-overlay") ? OVERLAY : OTHER;
        return REAL(dm_task_set_name)(dmt, name);
}

void dm_task_destroy(struct dm_task *dmt) {
        for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
                if (tasks[i].t == dmt)
                        tasks[i].t = NULL;
        REAL(dm_task_destroy)(dmt);
}

int dm_task_run(struct dm_task *dmt) {
        const char *n = getenv("NODESEAL_FAULT_KILL_IN_HOTZONE");
        int type = -1, helper = OTHER, r;

        for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++)
                if (tasks[i].t == dmt) {
                        type = tasks[i].type;
                        helper = tasks[i].helper;
                }
        /* libcryptsetup suspends the overlay first for each hotzone (see reenc_refresh_helper_devices). */
        if (n && type == DM_DEVICE_SUSPEND && helper == OVERLAY)
                armed = ++hotzones == atoi(n);
        if (type == DM_DEVICE_RESUME && helper == HOTZONE)
                kill_at_point("recorded");
        r = REAL(dm_task_run)(dmt);
        if (r && type == DM_DEVICE_SUSPEND && helper == OVERLAY)
                kill_at_point("overlay-suspended");
        if (r && type == DM_DEVICE_SUSPEND && helper == HOTZONE)
                kill_at_point("suspended");
        if (r && type == DM_DEVICE_RESUME && helper == OVERLAY)
                kill_at_point("switched");
        return r;
}

/* The hotzone's data is synced with fdatasync() (crypt_storage_wrapper_datasync). */
int fdatasync(int fd) {
        int r = REAL(fdatasync)(fd);

        kill_at_point("rewritten");
        return r;
}
