/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: one line of a watch stream ({"type": ..., "object": ...}). */
#include <stdint.h>

#include "kube-watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeWatchEvent ev = {};

        kube_json_hooks_install();
        if (kube_watch_event_parse((const char *) data, size, &ev) >= 0) {
                if (ev.type != KUBE_WATCH_EVENT_ERROR && !ev.resource_version)
                        abort();
                kube_watch_event_done(&ev);
        }
        return 0;
}
