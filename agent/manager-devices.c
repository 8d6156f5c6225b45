/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon watches each volume's device path: a link re-pointed (a /dev/disk/by-* link that udev
 * moves, a symlink an operator swaps), removed or created is looked at by a check attempt at once,
 * instead of at the next re-check, so D-Bus stops saying Ready within one attempt of the change. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include "log.h"
#include "manager.h"

#define DEVICE_WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)

/* The directory and name a device spec resolves through: its own for a path, udev's by-* links for
 * the tags. 0 and both set, or -EINVAL for a spec with nothing to watch. */
static int spec_watch_point(const char *spec, char **ret_dir, char **ret_name) {
        static const struct { const char *tag, *dir; } tags[] = {
                { "UUID=", "/dev/disk/by-uuid" },           { "LABEL=", "/dev/disk/by-label" },
                { "PARTUUID=", "/dev/disk/by-partuuid" },   { "PARTLABEL=", "/dev/disk/by-partlabel" },
        };
        _cleanup_free_ char *copy = NULL, *dir = NULL, *name = NULL;

        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                if (strneq(spec, tags[i].tag, strlen(tags[i].tag))) {
                        dir = strdup(tags[i].dir);
                        name = strdup(spec + strlen(tags[i].tag));
                        goto done;
                }
        if (spec[0] != '/')
                return -EINVAL;
        copy = strdup(spec);
        if (!copy)
                return -ENOMEM;
        name = strdup(basename(copy));
        dir = strdup(dirname(copy));
done:
        if (!dir || !name)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        *ret_name = TAKE_PTR(name);
        return 0;
}

static int on_device_path(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Manager *m = userdata;
        const char *dir = NULL;

        if (ev->len == 0)
                return 0;
        (void) sd_event_source_get_description(s, &dir);
        for (size_t i = 0; i < m->config->n_volumes; i++) {
                _cleanup_free_ char *d = NULL, *name = NULL;

                if (spec_watch_point(m->config->volumes[i].device, &d, &name) < 0 || !streq(name, ev->name) ||
                    !streq(d, strempty(dir)))
                        continue;
                log_info("Volume %s: its device path %s changed; checking.", m->config->volumes[i].name,
                         m->config->volumes[i].device);
                /* Not ready: a retry is scheduled and looks anyway. */
                if (m->state == MANAGER_READY)
                        (void) manager_request_attempt(m, ATTEMPT_CHECK);
                return 0;
        }
        return 0;
}

void manager_devices_unwatch(Manager *m) {
        for (size_t i = 0; i < m->n_device_watches; i++)
                sd_event_source_disable_unref(m->device_watches[i]);
        free(m->device_watches);
        m->device_watches = NULL;
        m->n_device_watches = 0;
}

void manager_devices_watch(Manager *m) {
        manager_devices_unwatch(m);
        if (m->config->n_volumes == 0)
                return;
        m->device_watches = calloc(m->config->n_volumes, sizeof(*m->device_watches));
        if (!m->device_watches) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < m->config->n_volumes; i++) {
                const VolumeConfig *v = &m->config->volumes[i];
                _cleanup_free_ char *dir = NULL, *name = NULL;
                sd_event_source *s = NULL;
                int r;

                if (spec_watch_point(v->device, &dir, &name) < 0)
                        continue;
                r = sd_event_add_inotify(m->event, &s, dir, DEVICE_WATCH_MASK, on_device_path, m);
                if (r < 0) {
                        log_notice_errno(r, "Volume %s: not watching %s (%m); a change of its device path is noticed at the next re-check.",
                                         v->name, dir);
                        continue;
                }
                (void) sd_event_source_set_description(s, dir);
                m->device_watches[m->n_device_watches++] = s;
        }
}
