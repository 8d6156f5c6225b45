/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the framing of a watch stream. The input is a header and a stream: the first byte
 * gives the number of cuts (low 4 bits) and a small buffer cap (top bit), then two bytes per cut
 * give where curl's chunks end. The pieces are fed as curl would, then the clean end; every complete
 * non-empty line, and the rest past leading whitespace at the end, must come out once, in order,
 * unchanged, and is parsed as an event. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube-watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CUTS_MAX 15

typedef struct Expect {
        const char *stream;
        size_t size;
        size_t pos;        /* where the next expected line starts in the stream */
        size_t tail;       /* where the unterminated rest starts */
        unsigned lines;
} Expect;

/* The next expected line at or after e->pos: its offset and length; false at the end of the lines. */
static bool next_line(const Expect *e, size_t *ret_start, size_t *ret_len) {
        size_t p = e->pos;

        for (;;) {
                const char *nl = memchr(e->stream + p, '\n', e->size - p);

                if (!nl)
                        return false;
                if ((size_t) (nl - e->stream) > p) {
                        *ret_start = p;
                        *ret_len = (size_t) (nl - e->stream) - p;
                        return true;
                }
                p++;
        }
}

static void parse_event(const char *line, size_t n) {
        KubeWatchEvent ev = {};

        if (kube_watch_event_parse(line, n, &ev) >= 0)
                kube_watch_event_done(&ev);
}

static int on_line(const char *line, size_t n, void *userdata) {
        Expect *e = userdata;
        size_t start, len;

        if (n == 0 || memchr(line, '\n', n) || !next_line(e, &start, &len) || len != n ||
            memcmp(line, e->stream + start, n) != 0)
                abort();
        e->pos = start + len + 1;
        e->lines++;
        parse_event(line, n);
        return 0;
}

static int on_last(const char *line, size_t n, void *userdata) {
        Expect *e = userdata;
        size_t t = e->tail;

        while (t < e->size && isspace((unsigned char) e->stream[t]))
                t++;
        if (n == 0 || t + n != e->size || memcmp(line, e->stream + t, n) != 0)
                abort();
        parse_event(line, n);
        return 0;
}

static int cmp_size(const void *a, const void *b) {
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t cuts[CUTS_MAX + 1], ncuts, prev = 0, start, len;
        KubeBuffer b = {};
        Expect e = {};
        bool small;
        int r = 0;

        if (size < 1)
                return 0;
        ncuts = data[0] & CUTS_MAX;
        small = data[0] & 0x80;
        if (size < 1 + 2 * ncuts)
                return 0;
        e.stream = (const char *) data + 1 + 2 * ncuts;
        e.size = size - 1 - 2 * ncuts;
        for (size_t i = 0; i < ncuts; i++)
                cuts[i] = ((size_t) data[1 + 2 * i] << 8 | data[2 + 2 * i]) % (e.size + 1);
        cuts[ncuts++] = e.size;
        qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

        kube_json_hooks_install();
        b.max = small ? 64 : 0;
        for (size_t i = 0; i < ncuts && r >= 0; i++) {
                size_t buffered = b.size;

                r = kube_watch_stream_feed(&b, e.stream + prev, cuts[i] - prev, on_line, &e);
                /* Only a piece that does not fit beside the partial line before it is refused. */
                if (r < 0 && (r != -EFBIG || buffered + cuts[i] - prev <= (small ? 64 : KUBE_BODY_SIZE_MAX)))
                        abort();
                prev = cuts[i];
        }
        if (r >= 0) {
                /* Every complete line came out; what is left is the rest after the last newline. */
                if (next_line(&e, &start, &len))
                        abort();
                const char *last = memrchr(e.stream, '\n', e.size);
                e.tail = last ? (size_t) (last - e.stream) + 1 : 0;
                if (b.size != e.size - e.tail || (b.size > 0 && memcmp(b.data, e.stream + e.tail, b.size) != 0))
                        abort();
                (void) kube_watch_stream_finish(&b, on_last, &e);
        }
        kube_buffer_done(&b);
        return 0;
}
