/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: /proc/self/mountinfo as mount_find() reads it, a line at a time (with getline()'s
 * newline kept), mount points with their \ooo escapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mount.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one(const char *text, size_t n) {
        char *line, *mount_point, *fstype;
        dev_t dev;

        line = strndup(text, n);
        if (!line)
                return;
        if (mount_info_parse_line(line, &dev, &mount_point, &fstype) >= 0) {
                /* Both point into the line, and the type is one word (the separators split it). */
                if (mount_point < line || mount_point > line + n || fstype < line || fstype > line + n ||
                    isempty(fstype) || strpbrk(fstype, " \n"))
                        abort();
                /* Unescaping only ever shortens the field. */
                if (strlen(mount_point) > n)
                        abort();
        }
        free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *end = p + size;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);

                parse_one(p, n);
                p += n;
        }
        return 0;
}
