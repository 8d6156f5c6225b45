/* SPDX-License-Identifier: Apache-2.0 */
/* kube-watch.c: the framing of a watch stream (chunks in, lines out) and its events. */
#include "kube-watch.h"
#include "tests.h"

typedef struct Lines {
        char text[512];      /* the lines seen, each followed by "|" */
        unsigned n;
        unsigned fail_at;    /* 1-based: that line's callback fails; 0: never */
} Lines;

static int collect(const char *line, size_t n, void *userdata) {
        Lines *l = userdata;
        size_t len = strlen(l->text);

        (void) snprintf(l->text + len, sizeof(l->text) - len, "%.*s|", (int) n, line);
        return ++l->n == l->fail_at ? -ESTALE : 0;
}

static int feed(KubeBuffer *b, const char *s, Lines *l) {
        return kube_watch_stream_feed(b, s, strlen(s), collect, l);
}

TEST(stream_chunks) {
        KubeBuffer b = {};
        Lines l = {};

        /* A line cut anywhere is handed over once it is complete; empty lines are skipped. */
        ASSERT_OK(feed(&b, "{\"a\"", &l));
        ASSERT_EQ(l.n, 0);
        ASSERT_OK(feed(&b, ":1}\n\n{\"b\":2}\n{\"c\"", &l));
        ASSERT_STREQ(l.text, "{\"a\":1}|{\"b\":2}|");
        ASSERT_EQ(b.size, 4);
        ASSERT_OK(feed(&b, "", &l));
        ASSERT_OK(feed(&b, ":3}\n", &l));
        ASSERT_STREQ(l.text, "{\"a\":1}|{\"b\":2}|{\"c\":3}|");
        ASSERT_EQ(b.size, 0);

        /* At the end: what is left, past leading whitespace, is a last event; whitespace is none. */
        ASSERT_OK(feed(&b, "\n \r\n\t{\"d\":4}", &l));
        ASSERT_EQ(l.n, 4);   /* " \r" is a line of its own: the event parser refuses it */
        ASSERT_OK(kube_watch_stream_finish(&b, collect, &l));
        ASSERT_STREQ(l.text, "{\"a\":1}|{\"b\":2}|{\"c\":3}| \r|{\"d\":4}|");
        kube_buffer_done(&b);
        ASSERT_OK(feed(&b, "\n\t ", &l));
        ASSERT_OK(kube_watch_stream_finish(&b, collect, &l));
        ASSERT_EQ(l.n, 5);
        kube_buffer_done(&b);
}

TEST(stream_stops_at_failure) {
        KubeBuffer b = {};
        Lines l = { .fail_at = 2 };

        /* The failing line is consumed, the ones after it are not looked at. */
        ASSERT_ERROR(feed(&b, "one\ntwo\nthree\nfour", &l), ESTALE);
        ASSERT_STREQ(l.text, "one|two|");
        ASSERT_EQ(b.size, strlen("three\nfour"));
        ASSERT_TRUE(memcmp(b.data, "three\nfour", b.size) == 0);
        kube_buffer_done(&b);
}

TEST(stream_cap) {
        KubeBuffer b = { .max = 8 };
        Lines l = {};

        ASSERT_OK(feed(&b, "1234\n567", &l));
        ASSERT_ERROR(feed(&b, "89abcdef\n", &l), EFBIG);
        ASSERT_TRUE(b.overflow);
        ASSERT_STREQ(l.text, "1234|");
        kube_buffer_done(&b);
}

TEST(event_parse) {
        static const char added[] =
                "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"metadata\":{\"name\":\"k\",\"resourceVersion\":\"7\"}}}";
        static const char gone[] =
                "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410,\"message\":\"too old\"}}";
        static const char unknown[] = "{\"type\":\"X\",\"object\":{}}";
        static const char no_rv[] = "{\"type\":\"MODIFIED\",\"object\":{}}";
        KubeWatchEvent ev = {};

        kube_json_hooks_install();
        ASSERT_OK(kube_watch_event_parse(added, strlen(added), &ev));
        ASSERT_EQ(ev.type, KUBE_WATCH_EVENT_ADDED);
        ASSERT_STREQ(ev.name, "k");
        ASSERT_STREQ(ev.resource_version, "7");
        kube_watch_event_done(&ev);
        ASSERT_OK(kube_watch_event_parse(gone, strlen(gone), &ev));
        ASSERT_EQ(ev.type, KUBE_WATCH_EVENT_ERROR);
        ASSERT_EQ(ev.status.code, 410);
        kube_watch_event_done(&ev);
        ASSERT_ERROR(kube_watch_event_parse(" \r", 2, &ev), EBADMSG);
        ASSERT_ERROR(kube_watch_event_parse(unknown, strlen(unknown), &ev), EPROTONOSUPPORT);
        ASSERT_ERROR(kube_watch_event_parse(no_rv, strlen(no_rv), &ev), ENODATA);
}
