/* SPDX-License-Identifier: Apache-2.0 */
/* The directory secret source: layout, each kind of missing thing, short keys, put-if-missing. */
#include <sys/stat.h>

#include "secret.h"
#include "tests.h"

static Config *make_config(char *dir) {
        static char json[1024];
        NsError e = {};
        Config *c = NULL;

        snprintf(json, sizeof(json), "{\"node_name\": \"n1\", \"secrets\": {\"directory\": \"%s\"},"
                 "\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/srv\"}]}", dir);
        if (config_parse(json, strlen(json), "t.json", &c, &e) < 0) {
                fprintf(stderr, "%s\n", e.message);
                abort();
        }
        return c;
}

static void setup(char *dir, size_t n) {
        char p[512];

        snprintf(dir, n, "%s/secrets", test_tmpdir);
        mkdir(dir, 0700);
        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1", dir);
        mkdir(p, 0700);
        snprintf(p, sizeof(p), "%s/nodeseal-ca", dir);
        mkdir(p, 0700);
}

TEST(get_volume_key) {
        char dir[256], p[512], buf[512];
        SecretSource *s = NULL;
        SecretValue *v = NULL;
        NsError e = {};
        Config *c;

        setup(dir, sizeof(dir));
        c = make_config(dir);
        ASSERT_OK(secret_source_new(c, &s, &e));

        snprintf(p, sizeof(p), "%s/nodeseal-keys-n1/data", dir);
        test_write_file(p, "0123456789abcdef0123456789abcdef!", buf, sizeof(buf));
        ASSERT_OK(secret_source_get_volume_key(s, &c->volumes[0], false, &v, &e));
        ASSERT_EQ(v->size, 33);
        ASSERT_TRUE(memcmp(v->data, "0123456789abcdef", 16) == 0);
        v = secret_value_free(v);

        /* Too short: its own error, naming key and Secret. */
        test_write_file(p, "short", buf, sizeof(buf));
        ASSERT_ERROR(secret_source_get_volume_key(s, &c->volumes[0], false, &v, &e), EMSGSIZE);
        ASSERT_CONTAINS(e.message, "Key \"data\" of Secret nodeseal-keys-n1 is 5 bytes long");

        /* Missing key. */
        e = (NsError) {};
        ASSERT_ERROR(secret_source_get_volume_key(s, &c->volumes[0], true, &v, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "Secret nodeseal-keys-n1 has no key \"data.previous\"");

        secret_source_free(s);
        config_free(c);
}

TEST(missing_secret_and_directory) {
        char dir[256];
        SecretSource *s = NULL;
        SecretValue *v = NULL;
        NsError e = {};
        Config *c;

        snprintf(dir, sizeof(dir), "%s/empty", test_tmpdir);
        mkdir(dir, 0700);
        c = make_config(dir);
        ASSERT_OK(secret_source_new(c, &s, &e));
        ASSERT_ERROR(secret_source_get(s, "nodeseal-ca", "tls.crt", &v, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "Secret nodeseal-ca not found");
        secret_source_free(s);
        config_free(c);

        c = make_config((char *) "/nonexistent-dir");
        ASSERT_OK(secret_source_new(c, &s, &e));
        e = (NsError) {};
        ASSERT_ERROR(secret_source_get(s, "nodeseal-ca", "tls.crt", &v, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "Secrets directory /nonexistent-dir");
        secret_source_free(s);
        config_free(c);
}

TEST(names_cannot_escape) {
        char dir[256];
        SecretSource *s = NULL;
        SecretValue *v = NULL;
        NsError e = {};
        Config *c;

        setup(dir, sizeof(dir));
        c = make_config(dir);
        ASSERT_OK(secret_source_new(c, &s, &e));
        ASSERT_ERROR(secret_source_get(s, "..", "x", &v, &e), EINVAL);
        ASSERT_ERROR(secret_source_get(s, "nodeseal-ca", "../../etc/passwd", &v, &e), EINVAL);
        ASSERT_ERROR(secret_source_get(s, "nodeseal-ca", "..", &v, &e), EINVAL);
        ASSERT_FALSE(secret_name_is_valid("Upper"));
        ASSERT_FALSE(secret_name_is_valid("-x"));
        ASSERT_TRUE(secret_name_is_valid("nodeseal-keys-n1.example"));
        ASSERT_TRUE(secret_key_is_valid("tls.crt"));
        ASSERT_TRUE(secret_key_is_valid("data.previous"));
        secret_source_free(s);
        config_free(c);
}

TEST(put_if_missing_keeps_first) {
        char dir[256];
        SecretSource *s = NULL;
        SecretValue *a = NULL, *b = NULL, *got = NULL;
        NsError e = {};
        Config *c;

        setup(dir, sizeof(dir));
        c = make_config(dir);
        ASSERT_OK(secret_source_new(c, &s, &e));
        ASSERT_OK(secret_value_new(32, &a));
        ASSERT_OK(random_bytes(a->data, 32));
        ASSERT_OK(secret_value_new(32, &b));
        ASSERT_OK(random_bytes(b->data, 32));

        ASSERT_OK(secret_source_put_if_missing(s, "nodeseal-keys-n1", "fresh", a, &got, &e));
        ASSERT_TRUE(secret_value_equal(got, a));
        got = secret_value_free(got);
        /* The second writer loses the race and gets the first one's value back. */
        ASSERT_OK(secret_source_put_if_missing(s, "nodeseal-keys-n1", "fresh", b, &got, &e));
        ASSERT_TRUE(secret_value_equal(got, a));
        ASSERT_FALSE(secret_value_equal(got, b));

        secret_value_free(got);
        secret_value_free(a);
        secret_value_free(b);
        secret_source_free(s);
        config_free(c);
}

static int on_changed(SecretSource *s, const char *secret, void *userdata) {
        unsigned *calls = userdata;

        (*calls)++;
        return 0;
}

/* Runs the loop for about usec, or until the handler was called. */
static void run_loop(sd_event *event, uint64_t usec, unsigned *calls) {
        for (uint64_t waited = 0; waited < usec && *calls == 0; waited += 100 * USEC_PER_MSEC)
                ASSERT_TRUE(sd_event_run(event, 100 * USEC_PER_MSEC) >= 0);
}

TEST(directory_watch_polls_metadata) {
        char dir[256], p[512], buf[512], *names[] = { (char *) "nodeseal-ca", (char *) "nodeseal-keys-n1", NULL };
        sd_event *event = NULL;
        SecretSource *s = NULL;
        NsError e = {};
        unsigned calls = 0;
        Config *c;

        setup(dir, sizeof(dir));
        c = make_config(dir);
        c->daemon.poll_usec = 200 * USEC_PER_MSEC;
        ASSERT_OK(sd_event_new(&event));
        ASSERT_OK(secret_source_new(c, &s, &e));
        /* A directory never generates keys, whatever the kubernetes settings say. */
        c->secrets.kubernetes.generate_missing_keys = true;
        ASSERT_FALSE(secret_source_generates_keys(s));

        snprintf(p, sizeof(p), "%s/nodeseal-ca/tls.crt", dir);
        test_write_file(p, "one", buf, sizeof(buf));
        secret_source_snapshot(s, names);
        ASSERT_OK(secret_source_watch(s, event, names, on_changed, &calls, &e));
        /* Nothing changed since the snapshot: nothing to report. */
        run_loop(event, 700 * USEC_PER_MSEC, &calls);
        ASSERT_EQ(calls, 0);

        test_write_file(p, "two, longer", buf, sizeof(buf));
        run_loop(event, 3 * USEC_PER_SEC, &calls);
        ASSERT_EQ(calls, 1);
        /* Reported once: the digest moved on with it. */
        calls = 0;
        run_loop(event, 700 * USEC_PER_MSEC, &calls);
        ASSERT_EQ(calls, 0);

        secret_source_free(s);
        sd_event_unref(event);
        config_free(c);
}

static void write_text(const char *dir, const char *name, const char *text) {
        char p[512];
        FILE *f;

        snprintf(p, sizeof(p), "%s/nodeseal-ca/%s", dir, name);
        f = fopen(p, "we");
        if (!f)
                abort();
        fputs(text, f);
        fclose(f);
}

static SecretValue *value(const char *text) {
        SecretValue *v = NULL;
        if (secret_value_new_copy(text, strlen(text), &v) < 0)
                abort();
        return v;
}

/* ca-rotate's write: the whole Secret swapped at once, other keys kept, nothing written when the
 * Secret changed since it was read, nothing left behind. */
TEST(directory_replace_whole_secret) {
        const char *keys[] = { "tls.crt", "next.key" };
        SecretValue *before[2], *after[2], *got = NULL;
        char dir[256], p[512];
        SecretSource *s = NULL;
        struct stat st;
        NsError e = {};
        Config *c;

        setup(dir, sizeof(dir));
        c = make_config(dir);
        ASSERT_OK(secret_source_new(c, &s, &e));
        write_text(dir, "tls.crt", "old");
        write_text(dir, "other", "kept");
        before[0] = value("old");
        before[1] = NULL;
        after[0] = value("new");
        after[1] = value("secret");

        /* Read "old", but the Secret says something else now: refused, nothing changed. */
        write_text(dir, "tls.crt", "changed meanwhile");
        ASSERT_ERROR(secret_source_replace(s, "nodeseal-ca", keys, before, after, 2, &e), ESTALE);
        ASSERT_CONTAINS(e.message, "changed since it was read (key \"tls.crt\")");
        snprintf(p, sizeof(p), "%s/nodeseal-ca/next.key", dir);
        ASSERT_TRUE(stat(p, &st) < 0);

        write_text(dir, "tls.crt", "old");
        e = (NsError) {};
        ASSERT_OK(secret_source_replace(s, "nodeseal-ca", keys, before, after, 2, &e));
        ASSERT_OK(secret_source_get(s, "nodeseal-ca", "tls.crt", &got, &e));
        ASSERT_TRUE(secret_value_equal(got, after[0]));
        got = secret_value_free(got);
        ASSERT_OK(secret_source_get(s, "nodeseal-ca", "next.key", &got, &e));
        ASSERT_TRUE(secret_value_equal(got, after[1]));
        got = secret_value_free(got);
        ASSERT_TRUE(stat(p, &st) >= 0 && (st.st_mode & 07777) == 0600);
        ASSERT_OK(secret_source_get(s, "nodeseal-ca", "other", &got, &e));
        got = secret_value_free(got);
        snprintf(p, sizeof(p), "%s/.nodeseal-ca.staging", dir);
        ASSERT_TRUE(stat(p, &st) < 0);

        /* A key removed: NULL. */
        SecretValue *again[2] = { after[0], NULL }, *now[2] = { after[0], after[1] };
        ASSERT_OK(secret_source_replace(s, "nodeseal-ca", keys, now, again, 2, &e));
        ASSERT_ERROR(secret_source_get(s, "nodeseal-ca", "next.key", &got, NULL), ENOKEY);

        /* A mounted Secret (kubelet's links) is not written through. */
        snprintf(p, sizeof(p), "%s/nodeseal-ca/linked", dir);
        ASSERT_TRUE(symlink("other", p) == 0);
        e = (NsError) {};
        ASSERT_ERROR(secret_source_replace(s, "nodeseal-ca", keys, again, now, 2, &e), EMEDIUMTYPE);
        ASSERT_CONTAINS(e.message, "not a plain file");

        for (size_t i = 0; i < 2; i++) {
                secret_value_free(before[i]);
                secret_value_free(after[i]);
        }
        secret_source_free(s);
        config_free(c);
}

/* A source whose CA Secret is replaced as a whole after the first key was read (a directory
 * renamed in, kubelet's ..data link swapped): each key read alone shows whatever is there then. */
typedef struct SwappingSource {
        SecretSource base;
        unsigned reads;
} SwappingSource;

static int swapping_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error) {
        SwappingSource *w = (SwappingSource *) s;
        char v[64];

        (void) secret;
        (void) error;
        /* Version 1 for the very first read, version 2 from then on. */
        (void) snprintf(v, sizeof(v), "%s of version %d", key, w->reads++ == 0 ? 1 : 2);
        return secret_value_new_copy(v, strlen(v), ret);
}

TEST(ca_read_as_one_version) {
        static const SecretSourceVTable vt = { .get = swapping_get };
        Config c = { .secrets = { .ca_secret = (char *) "nodeseal-ca" } };
        SwappingSource w = { .base = { .vtable = &vt, .config = &c } };
        _cleanup_(secret_value_freep) SecretValue *cert = NULL, *key = NULL, *bundle = NULL;

        ASSERT_OK(secret_source_get_ca(&w.base, &cert, &key, &bundle, NULL));
        /* Never the certificate of one version with the key of another. */
        ASSERT_EQ(cert->size, strlen("tls.crt of version 2"));
        ASSERT_TRUE(memcmp(cert->data, "tls.crt of version 2", cert->size) == 0);
        ASSERT_TRUE(memcmp(key->data, "tls.key of version 2", key->size) == 0);
        ASSERT_TRUE(memcmp(bundle->data, "ca.crt of version 2", bundle->size) == 0);
}
