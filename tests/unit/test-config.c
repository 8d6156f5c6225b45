/* SPDX-License-Identifier: Apache-2.0 */
/* Config loading: defaults, every kind of bad input named by file, field and reason. */
#include "config.h"
#include "tests.h"

static int parse(const char *json, Config **ret, NsError *e) {
        return config_parse(json, strlen(json), "test.json", ret, e);
}

/* Asserts that json is refused with -EINVAL and a message containing want. */
#define ASSERT_REFUSED(json, want)                                              \
        do {                                                                    \
                NsError _e = {};                                                \
                Config *_c = NULL;                                              \
                ASSERT_ERROR(parse((json), &_c, &_e), EINVAL);                  \
                ASSERT_TRUE(_c == NULL);                                        \
                ASSERT_CONTAINS(_e.message, "test.json: ");                     \
                ASSERT_CONTAINS(_e.message, (want));                            \
        } while (0)

TEST(defaults) {
        NsError e = {};
        Config *c = NULL;

        setenv("NODE_NAME", "db-1", 1);
        ASSERT_OK(parse("{}", &c, &e));
        ASSERT_STREQ(c->node_name, "db-1");
        ASSERT_EQ(c->secrets.type, SECRET_SOURCE_DIRECTORY);
        ASSERT_STREQ(c->secrets.ca_secret, "nodeseal-ca");
        ASSERT_STREQ(c->secrets.keys_secret, "nodeseal-keys-db-1");
        ASSERT_STREQ(c->secrets.directory, "/etc/nodeseal/secrets");
        ASSERT_STREQ(c->runtime_dir, "/run/nodeseal");
        ASSERT_EQ(c->check_margin_usec, 7 * USEC_PER_DAY);
        ASSERT_EQ(c->retry.initial_usec, USEC_PER_SEC);
        ASSERT_FALSE(c->daemon.close_on_stop);
        ASSERT_EQ(c->daemon.recheck_usec, 60 * USEC_PER_SEC);
        ASSERT_EQ(c->daemon.poll_usec, 10 * USEC_PER_SEC);
        ASSERT_EQ(c->daemon.hook_timeout_usec, 60 * USEC_PER_SEC);
        ASSERT_EQ(c->daemon.renew_jitter_usec, 3600 * USEC_PER_SEC);
        ASSERT_EQ(c->n_volumes, 0);
        config_free(c);
}

TEST(node_name_from_hostname) {
        char host[256] = {};
        NsError e = {};
        Config *c = NULL;

        unsetenv("NODE_NAME");
        gethostname(host, sizeof(host) - 1);
        ASSERT_OK(parse("{}", &c, &e));
        ASSERT_STREQ(c->node_name, host);
        config_free(c);
        setenv("NODE_NAME", "db-1", 1);
}

TEST(full) {
        static const char json[] =
                "{ \"node_name\": \"pg-0\","
                "  \"secrets\": { \"source\": \"kubernetes\", \"keys_secret\": \"keys-{node}\","
                "                 \"kubernetes\": { \"api_url\": \"https://127.0.0.1:6443\", \"namespace\": \"db\","
                "                                  \"connect_timeout_sec\": 2.5, \"generate_missing_keys\": true } },"
                "  \"retry\": { \"initial_sec\": 0.5, \"max_sec\": 30, \"max_attempts\": 3 },"
                "  \"check\": { \"expiry_margin_days\": 2 },"
                "  \"daemon\": { \"close_on_stop\": true, \"recheck_sec\": 5, \"poll_sec\": 0.5,"
                "               \"hook_timeout_sec\": 3, \"renew_jitter_sec\": 1 },"
                "  \"volumes\": [ { \"name\": \"pgdata\", \"device\": \"LABEL=data\", \"mountpoint\": \"/var/lib/postgresql\","
                "                   \"filesystem\": \"xfs\", \"owner\": \"postgres\", \"mode\": \"0700\","
                "                   \"luks\": { \"pbkdf\": \"argon2id\", \"argon2_memory_kib\": 1024, \"allow_discards\": true } } ],"
                "  \"certificates\": [ { \"name\": \"pg\", \"profile\": \"postgresql\", \"directory\": \"/etc/pg/tls\","
                "                        \"key_type\": \"rsa-3072\", \"dns_names\": [\"{node}\", \"{node}.db.svc\"],"
                "                        \"ip_addresses\": [\"10.1.2.3\", \"::1\"], \"validity_days\": 30,"
                "                        \"reload_command\": [\"/bin/true\", \"x\"] } ] }";
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse(json, &c, &e));
        ASSERT_STREQ(c->node_name, "pg-0");
        ASSERT_EQ(c->secrets.type, SECRET_SOURCE_KUBERNETES);
        ASSERT_STREQ(c->secrets.keys_secret, "keys-pg-0");
        ASSERT_STREQ(c->secrets.kubernetes.api_url, "https://127.0.0.1:6443");
        ASSERT_EQ(c->secrets.kubernetes.connect_timeout_usec, 2500000);
        ASSERT_TRUE(c->secrets.kubernetes.generate_missing_keys);
        ASSERT_EQ(c->retry.initial_usec, 500000);
        ASSERT_EQ(c->retry.max_attempts, 3);
        ASSERT_EQ(c->check_margin_usec, 2 * USEC_PER_DAY);
        ASSERT_TRUE(c->daemon.close_on_stop);
        ASSERT_EQ(c->daemon.recheck_usec, 5 * USEC_PER_SEC);
        ASSERT_EQ(c->daemon.poll_usec, 500000);
        ASSERT_EQ(c->daemon.hook_timeout_usec, 3 * USEC_PER_SEC);
        ASSERT_EQ(c->daemon.renew_jitter_usec, USEC_PER_SEC);
        ASSERT_EQ(c->n_volumes, 1);
        ASSERT_STREQ(c->volumes[0].device, "LABEL=data");
        ASSERT_EQ(c->volumes[0].filesystem, FILESYSTEM_XFS);
        ASSERT_EQ(c->volumes[0].mode, 0700);
        ASSERT_STREQ(c->volumes[0].luks.cipher, "aes-xts-plain64");
        ASSERT_EQ(c->volumes[0].luks.key_size_bits, 512);
        ASSERT_EQ(c->volumes[0].luks.sector_size, 4096);
        ASSERT_EQ(c->volumes[0].luks.pbkdf, PBKDF_ARGON2ID);
        ASSERT_EQ(c->volumes[0].luks.argon2_memory_kib, 1024);
        ASSERT_TRUE(c->volumes[0].luks.allow_discards);
        ASSERT_EQ(c->volumes[0].format, FORMAT_IF_BLANK);
        ASSERT_FALSE(c->volumes[0].adopt);
        ASSERT_EQ(c->n_certificates, 1);
        ASSERT_EQ(c->certificates[0].profile, PROFILE_POSTGRESQL);
        ASSERT_EQ(c->certificates[0].key_type, KEY_TYPE_RSA_3072);
        ASSERT_STREQ(c->certificates[0].dns_names[1], "{node}.db.svc");
        ASSERT_STREQ(c->certificates[0].ip_addresses[1], "::1");
        ASSERT_EQ(c->certificates[0].validity_days, 30);
        ASSERT_TRUE(c->certificates[0].renew_fraction > 0.33 && c->certificates[0].renew_fraction < 0.34);
        ASSERT_STREQ(c->certificates[0].reload_command[1], "x");
        config_free(c);
}

TEST(certificate_defaults) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse("{\"certificates\": [{\"name\": \"a\", \"directory\": \"/x\"}]}", &c, &e));
        ASSERT_EQ(c->certificates[0].profile, PROFILE_GENERIC);
        ASSERT_EQ(c->certificates[0].key_type, KEY_TYPE_EC_P256);
        ASSERT_EQ(c->certificates[0].validity_days, 90);
        ASSERT_STREQ(c->certificates[0].dns_names[0], "{node}");
        ASSERT_TRUE(c->certificates[0].dns_names[1] == NULL);
        ASSERT_TRUE(c->certificates[0].reload);
        config_free(c);
}

TEST(bad_json) {
        ASSERT_REFUSED("{\n  \"node_name\": \"x\",\n  oops\n}", "line 3");
        ASSERT_REFUSED("", "not valid JSON");
        ASSERT_REFUSED("[]", "(top level): must be an object");
        ASSERT_REFUSED("{} trailing", "not valid JSON");
}

TEST(unknown_and_duplicate_fields) {
        ASSERT_REFUSED("{\"nodename\": \"x\"}", "nodename: unknown field");
        ASSERT_REFUSED("{\"secrets\": {\"sourc\": \"directory\"}}", "secrets.sourc: unknown field");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"a\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\", \"luks\": {\"keysize\": 512}}]}",
                       "volumes[0].luks.keysize: unknown field");
        ASSERT_REFUSED("{\"node_name\": \"a\", \"node_name\": \"b\"}", "node_name: field given twice");
}

TEST(wrong_types_and_values) {
        ASSERT_REFUSED("{\"node_name\": 3}", "node_name: must be a string, not a number");
        ASSERT_REFUSED("{\"node_name\": \"\"}", "node_name: must not be empty");
        ASSERT_REFUSED("{\"node_name\": \"Bad_Name\"}", "node_name: \"Bad_Name\" is not a valid node name");
        ASSERT_REFUSED("{\"secrets\": {\"source\": \"vault\"}}", "secrets.source: unknown secret source \"vault\"");
        ASSERT_REFUSED("{\"secrets\": {\"directory\": \"relative\"}}", "secrets.directory: must be an absolute path");
        ASSERT_REFUSED("{\"secrets\": {\"kubernetes\": {\"api_url\": \"http://10.0.0.1\"}}}",
                       "secrets.kubernetes.api_url: \"http://10.0.0.1\": plain http:// is refused");
        ASSERT_REFUSED("{\"secrets\": {\"kubernetes\": {\"client_key\": \"/k\"}}}",
                       "client_certificate and client_key must be given together");
        ASSERT_REFUSED("{\"secrets\": {\"keys_secret\": \"keys-{nodes}\"}}", "secrets.keys_secret: \"keys-{nodes}\"");
        ASSERT_REFUSED("{\"secrets\": {\"ca_secret\": \"CA\"}}", "secrets.ca_secret: \"CA\" is not a valid Secret name");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {}}}",
                       "secrets.wrapping.recovery_public_key: is required");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {\"node_key\": \"tmp2\", \"recovery_public_key\": \"/r\"}}}",
                       "secrets.wrapping.node_key: must be \"tpm2\" (sealed in the node's TPM) or \"file\"");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {\"pcrs\": [7], \"recovery_public_key\": \"/r\"}}}",
                       "secrets.wrapping.pcrs: applies to node_key \"tpm2\" only");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {\"node_key\": \"tpm2\", \"pcrs\": [7, 24], \"recovery_public_key\": \"/r\"}}}",
                       "secrets.wrapping.pcrs: must be");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {\"node_key\": \"tpm2\", \"pcrs\": [7, 7], \"recovery_public_key\": \"/r\"}}}",
                       "lists PCR 7 twice");
        ASSERT_REFUSED("{\"secrets\": {\"wrapping\": {\"node_key_file\": \"key\", \"recovery_public_key\": \"/r\"}}}",
                       "secrets.wrapping.node_key_file: must be an absolute path");
        ASSERT_REFUSED("{\"retry\": {\"initial_sec\": -1}}", "retry.initial_sec: must be between");
        ASSERT_REFUSED("{\"retry\": {\"initial_sec\": 10, \"max_sec\": 5}}", "retry.max_sec: must not be less");
        ASSERT_REFUSED("{\"retry\": {\"max_attempts\": 1.5}}", "retry.max_attempts: must be a whole number");
        ASSERT_REFUSED("{\"volumes\": {}}", "volumes: must be an array of objects");
        ASSERT_REFUSED("{\"daemon\": {\"close_on_stop\": \"yes\"}}", "daemon.close_on_stop: must be true or false");
        ASSERT_REFUSED("{\"daemon\": {\"poll_sec\": 0}}", "daemon.poll_sec: must be between");
        ASSERT_REFUSED("{\"daemon\": {\"restart\": true}}", "daemon.restart");
}

#define VOL(extra) "{\"volumes\": [{\"name\": \"data\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/srv/data\"" extra "}]}"

TEST(volume_validation) {
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"data\", \"mountpoint\": \"/m\"}]}", "volumes[0].device: required field missing");
        ASSERT_REFUSED(VOL(", \"name\": \"x\""), "volumes[0].name: field given twice");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"Data!\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\"}]}",
                       "volumes[0].name: \"Data!\" must be");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"d\", \"device\": \"vdb\", \"mountpoint\": \"/m\"}]}",
                       "volumes[0].device: \"vdb\" must be an absolute path or UUID=");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"d\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/\"}]}",
                       "volumes[0].mountpoint: must not be /");
        ASSERT_REFUSED(VOL(", \"mode\": 700"), "volumes[0].mode: must be an octal string");
        ASSERT_REFUSED(VOL(", \"mode\": \"0799\""), "volumes[0].mode: must be an octal mode");
        ASSERT_REFUSED(VOL(", \"filesystem\": \"btrfs\""), "volumes[0].filesystem: unknown filesystem \"btrfs\"");
        ASSERT_REFUSED(VOL(", \"format\": \"always\""), "volumes[0].format: unknown format policy \"always\"");
        ASSERT_REFUSED(VOL(", \"luks\": {\"key_size\": 384}"), "volumes[0].luks.key_size: 384 bits: XTS needs 256 or 512");
        ASSERT_REFUSED(VOL(", \"luks\": {\"sector_size\": 8192}"), "volumes[0].luks.sector_size: 8192");
        ASSERT_REFUSED(VOL(", \"luks\": {\"cipher\": \"aes\"}"), "volumes[0].luks.cipher: \"aes\" must be cipher-mode");
        ASSERT_REFUSED(VOL(", \"luks\": {\"pbkdf\": \"scrypt\"}"), "volumes[0].luks.pbkdf: unknown PBKDF");
        ASSERT_REFUSED(VOL(", \"key\": \"../x\""), "volumes[0].key: \"../x\" is not a valid Secret key");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"a\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\"},"
                       "{\"name\": \"a\", \"device\": \"/dev/vdc\", \"mountpoint\": \"/n\"}]}",
                       "volumes[1].name: \"a\" is also the name of volumes[0]");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"a\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\"},"
                       "{\"name\": \"b\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/n\"}]}",
                       "volumes[1].device: /dev/vdb is also the device of volumes[0]");
}

#define CERT(extra) "{\"certificates\": [{\"name\": \"pg\", \"directory\": \"/etc/tls\"" extra "}]}"

TEST(certificate_validation) {
        ASSERT_REFUSED("{\"certificates\": [{\"name\": \"pg\"}]}", "certificates[0].directory: required field missing");
        ASSERT_REFUSED(CERT(", \"profile\": \"mongodb\""), "certificates[0].profile: unknown profile \"mongodb\"");
        ASSERT_REFUSED(CERT(", \"key_type\": \"dsa\""), "certificates[0].key_type: unknown key type \"dsa\"");
        ASSERT_REFUSED(CERT(", \"dns_names\": [\"{nod}\"]"), "certificates[0].dns_names[0]: \"{nod}\"");
        ASSERT_REFUSED(CERT(", \"dns_names\": [1]"), "certificates[0].dns_names[0]: must be a string");
        ASSERT_REFUSED(CERT(", \"ip_addresses\": [\"10.0.0.300\"]"),
                       "certificates[0].ip_addresses[0]: \"10.0.0.300\" is not an IPv4 or IPv6 address");
        ASSERT_REFUSED(CERT(", \"validity_days\": 0"), "certificates[0].validity_days: must be between 1");
        ASSERT_REFUSED(CERT(", \"validity_days\": 5000"), "certificates[0].validity_days: 5000");
        ASSERT_REFUSED(CERT(", \"renew_fraction\": 1"), "certificates[0].renew_fraction: 1");
        /* No longer-lived than the check margin (7 days by default, or as configured). */
        ASSERT_REFUSED(CERT(", \"validity_days\": 7"),
                       "certificates[0].validity_days: 7 day(s) is not longer than check.expiry_margin_days (7)");
        ASSERT_REFUSED("{\"check\": {\"expiry_margin_days\": 40}, "
                       "\"certificates\": [{\"name\": \"pg\", \"directory\": \"/etc/tls\", \"validity_days\": 30}]}",
                       "certificates[0].validity_days: 30 day(s) is not longer than check.expiry_margin_days (40)");
        ASSERT_REFUSED(CERT(", \"reload_command\": [\"reload.sh\"]"), "certificates[0].reload_command[0]");
        /* An empty argv has no program to run (it crashed every command once). */
        ASSERT_REFUSED(CERT(", \"reload_command\": []"), "certificates[0].reload_command: must not be empty");
        /* Key types the profile's datastore cannot handshake with, refused with the reason. */
        ASSERT_REFUSED(CERT(", \"profile\": \"tikv\", \"key_type\": \"ed25519\""),
                       "certificates[0].key_type: ed25519 is refused for the tikv profile: gRPC");
        ASSERT_REFUSED(CERT(", \"profile\": \"pd\", \"key_type\": \"ec-p384\""),
                       "certificates[0].key_type: ec-p384 is refused for the pd profile: gRPC");
}

TEST(serve_check_and_restart_command) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse(CERT(", \"restart_command\": [\"/bin/systemctl\", \"restart\", \"etcd\"],"
                             " \"serve_check\": {\"address\": \"127.0.0.1:2379\", \"protocol\": \"tls\"}"), &c, &e));
        ASSERT_STREQ(c->certificates[0].restart_command[2], "etcd");
        ASSERT_STREQ(c->certificates[0].serve_check.address, "127.0.0.1:2379");
        ASSERT_EQ(c->certificates[0].serve_check.protocol, SERVE_CHECK_TLS);
        config_free(c);
        c = NULL;
        ASSERT_OK(parse(CERT(""), &c, &e));
        ASSERT_TRUE(c->certificates[0].serve_check.address == NULL);
        ASSERT_TRUE(c->certificates[0].restart_command == NULL);
        config_free(c);

        ASSERT_REFUSED(CERT(", \"restart_command\": [\"systemctl\"]"),
                       "certificates[0].restart_command[0]: \"systemctl\" must be an absolute path");
        ASSERT_REFUSED(CERT(", \"restart_command\": []"), "certificates[0].restart_command: must not be empty");
        ASSERT_REFUSED(CERT(", \"serve_check\": {\"address\": \"10.1.2.3:5432\", \"protocol\": \"postgres\"}"),
                       "certificates[0].serve_check.address: \"10.1.2.3:5432\": must be a loopback address");
        ASSERT_REFUSED(CERT(", \"serve_check\": {\"address\": \"/run/postgresql/.s.PGSQL.5432\", \"protocol\": \"postgres\"}"),
                       "certificates[0].serve_check.address: \"/run/postgresql/.s.PGSQL.5432\": a Unix socket works with "
                       "protocol \"tls\" only");
        ASSERT_REFUSED(CERT(", \"serve_check\": {\"address\": \"127.0.0.1:5432\"}"),
                       "certificates[0].serve_check.protocol: required field missing");
        ASSERT_REFUSED(CERT(", \"serve_check\": {\"address\": \"127.0.0.1:5432\", \"protocol\": \"pgsql\"}"),
                       "certificates[0].serve_check.protocol: unknown protocol \"pgsql\" (expected tls, postgres or mysql)");
        ASSERT_REFUSED(CERT(", \"serve_check\": \"127.0.0.1:5432\""), "certificates[0].serve_check: must be an object");
}

TEST(certificate_key_types_accepted) {
        static const char *const ok[] = {
                CERT(", \"profile\": \"postgresql\", \"key_type\": \"ed25519\""),
                CERT(", \"profile\": \"etcd\", \"key_type\": \"ed25519\""),
                CERT(", \"profile\": \"tikv\", \"key_type\": \"rsa-2048\""),
                CERT(", \"profile\": \"pd\""),
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                NsError e = {};
                Config *c = NULL;
                ASSERT_OK(parse(ok[i], &c, &e));
                config_free(c);
        }
}

TEST(expand) {
        Config c = { .node_name = (char *) "n1", .hostname = (char *) "h1" };
        char *s = NULL;

        ASSERT_OK(config_expand(&c, "{node}.{hostname}.svc", &s));
        ASSERT_STREQ(s, "n1.h1.svc");
        free(s);
        ASSERT_ERROR(config_expand(&c, "{x}", &s), EINVAL);
        ASSERT_ERROR(config_expand(&c, "a}", &s), EINVAL);
        ASSERT_ERROR(config_expand(&c, "{node", &s), EINVAL);
}

TEST(load_names_file) {
        char path[512];
        NsError e = {};
        Config *c = NULL;

        ASSERT_ERROR(config_load("/nonexistent/nodeseal.json", &c, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "/nonexistent/nodeseal.json: No such file");

        test_write_file("c.json", "{\"retry\": {\"jitter\": 2}}", path, sizeof(path));
        e = (NsError) {};
        ASSERT_ERROR(config_load(path, &c, &e), EINVAL);
        ASSERT_CONTAINS(e.message, path);
        ASSERT_CONTAINS(e.message, "retry.jitter: must be between 0 and 1, not 2");
}

TEST(resolve_users) {
        uid_t u;
        gid_t g;

        ASSERT_OK(config_resolve_user("root", &u, &g));
        ASSERT_EQ(u, 0);
        ASSERT_EQ(g, 0);
        ASSERT_OK(config_resolve_user("1234", &u, NULL));
        ASSERT_EQ(u, 1234);
        ASSERT_OK(config_resolve_user(NULL, &u, NULL));
        ASSERT_EQ(u, (uid_t) -1);
        ASSERT_ERROR(config_resolve_user("no-such-user-xyz", &u, NULL), ESRCH);
        ASSERT_OK(config_resolve_group("root", &g));
        ASSERT_EQ(g, 0);
        ASSERT_ERROR(config_resolve_group("no-such-group-xyz", &g), ESRCH);
}

TEST(enum_tables) {
        for (int i = 0; i < _KEY_TYPE_MAX; i++)
                ASSERT_EQ(key_type_from_string(key_type_to_string(i)), i);
        for (int i = 0; i < _PROFILE_TYPE_MAX; i++)
                ASSERT_EQ(profile_type_from_string(profile_type_to_string(i)), i);
        ASSERT_TRUE(key_type_to_string(_KEY_TYPE_MAX) == NULL);
        ASSERT_TRUE(profile_type_from_string("nope") < 0);
}

TEST(kubernetes_service_account_dir_and_watch_timeout) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse("{}", &c, &e));
        ASSERT_TRUE(c->secrets.kubernetes.service_account_dir == NULL);
        ASSERT_EQ(c->secrets.kubernetes.watch_timeout_usec, 300 * USEC_PER_SEC);
        config_free(c);

        c = NULL;
        ASSERT_OK(parse("{\"secrets\": {\"kubernetes\": {\"service_account_dir\": \"/run/sa\", \"watch_timeout_sec\": 30}}}",
                        &c, &e));
        ASSERT_STREQ(c->secrets.kubernetes.service_account_dir, "/run/sa");
        ASSERT_EQ(c->secrets.kubernetes.watch_timeout_usec, 30 * USEC_PER_SEC);
        config_free(c);

        ASSERT_REFUSED("{\"secrets\": {\"kubernetes\": {\"service_account_dir\": \"sa\"}}}",
                       "secrets.kubernetes.service_account_dir: must be an absolute path");
        ASSERT_REFUSED("{\"secrets\": {\"kubernetes\": {\"watch_timeout_sec\": 0.5}}}",
                       "secrets.kubernetes.watch_timeout_sec: must be between 1 and 3600 seconds");
        ASSERT_REFUSED("{\"secrets\": {\"kubernetes\": {\"watch_timeout_sec\": 7200}}}",
                       "secrets.kubernetes.watch_timeout_sec: must be between 1 and 3600 seconds");
}

TEST(wrapping_tpm2_pcrs) {
        Config *c = NULL;
        NsError e = {};
        const char *json = "{\"node_name\": \"n1\", \"secrets\": {\"wrapping\": {\"node_key\": \"tpm2\", "
                           "\"tpm_tcti\": \"swtpm:port=2321\", \"pcrs\": [0, 7], \"recovery_public_key\": \"/r.pub\"}}}";

        ASSERT_OK(parse(json, &c, &e));
        ASSERT_TRUE(c->secrets.wrapping.enabled);
        ASSERT_STREQ(c->secrets.wrapping.node_key, "tpm2");
        ASSERT_STREQ(c->secrets.wrapping.tpm_tcti, "swtpm:port=2321");
        ASSERT_EQ(c->secrets.wrapping.n_pcrs, 2);
        ASSERT_EQ(c->secrets.wrapping.pcrs[1], 7);
        ASSERT_STREQ(c->secrets.wrapping.node_key_file, "/var/lib/nodeseal/node.key");
        config_free(c);
}

TEST(metrics) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse("{}", &c, &e));
        ASSERT_TRUE(c->metrics.textfile == NULL);
        ASSERT_TRUE(c->metrics.listen == NULL);
        config_free(c);

        c = NULL;
        ASSERT_OK(parse("{\"metrics\": {\"textfile\": \"/var/lib/node_exporter/nodeseal.prom\", "
                        "\"listen\": \"[::1]:9464\"}}", &c, &e));
        ASSERT_STREQ(c->metrics.textfile, "/var/lib/node_exporter/nodeseal.prom");
        ASSERT_STREQ(c->metrics.listen, "[::1]:9464");
        config_free(c);

        ASSERT_REFUSED("{\"metrics\": {\"textfile\": \"/var/lib/nodeseal.txt\"}}",
                       "metrics.textfile: must name a file ending in .prom");
        ASSERT_REFUSED("{\"metrics\": {\"textfile\": \"nodeseal.prom\"}}",
                       "metrics.textfile: must be an absolute path");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"localhost:9464\"}}",
                       "metrics.listen: must be a numeric IP address and a port");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"127.0.0.1\"}}", "metrics.listen:");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"127.0.0.1:0\"}}", "metrics.listen:");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"127.0.0.1:65536\"}}", "metrics.listen:");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"::1:9464\"}}", "metrics.listen:");
        ASSERT_REFUSED("{\"metrics\": {\"listen\": \"[127.0.0.1]:9464\"}}", "metrics.listen:");
        ASSERT_REFUSED("{\"metrics\": {\"port\": 9464}}", "metrics.port: unknown field");
}

TEST(luks_workqueue_flags_auto_true_false) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse(VOL(""), &c, &e));
        ASSERT_EQ(c->volumes[0].luks.no_read_workqueue, AUTO_BOOL_AUTO);
        ASSERT_EQ(c->volumes[0].luks.no_write_workqueue, AUTO_BOOL_AUTO);
        ASSERT_FALSE(c->volumes[0].luks.allow_discards);
        config_free(c);

        c = NULL;
        ASSERT_OK(parse(VOL(", \"luks\": {\"no_read_workqueue\": false, \"no_write_workqueue\": true}"), &c, &e));
        ASSERT_EQ(c->volumes[0].luks.no_read_workqueue, AUTO_BOOL_FALSE);
        ASSERT_EQ(c->volumes[0].luks.no_write_workqueue, AUTO_BOOL_TRUE);
        config_free(c);

        c = NULL;
        ASSERT_OK(parse(VOL(", \"luks\": {\"no_read_workqueue\": \"auto\"}"), &c, &e));
        ASSERT_EQ(c->volumes[0].luks.no_read_workqueue, AUTO_BOOL_AUTO);
        config_free(c);

        ASSERT_REFUSED(VOL(", \"luks\": {\"no_read_workqueue\": \"yes\"}"),
                       "volumes[0].luks.no_read_workqueue: must be true, false or \"auto\", not a string \"yes\"");
        ASSERT_REFUSED(VOL(", \"luks\": {\"no_write_workqueue\": 1}"),
                       "volumes[0].luks.no_write_workqueue: must be true, false or \"auto\", not a number");
        ASSERT_REFUSED(VOL(", \"luks\": {\"allow_discards\": \"auto\"}"),
                       "volumes[0].luks.allow_discards: must be true or false");
}

TEST(signer) {
        NsError e = {};
        Config *c = NULL;

        ASSERT_OK(parse("{}", &c, &e));
        ASSERT_EQ(c->secrets.signer, SIGNER_CA);
        config_free(c);
        ASSERT_OK(parse("{\"secrets\": {\"signer\": \"intermediate\", \"wrapping\": {\"recovery_public_key\": \"/r\"}}}",
                        &c, &e));
        ASSERT_EQ(c->secrets.signer, SIGNER_INTERMEDIATE);
        config_free(c);
        ASSERT_REFUSED("{\"secrets\": {\"signer\": \"root\"}}", "secrets.signer: unknown signer \"root\" (expected ca or intermediate)");
        ASSERT_REFUSED("{\"secrets\": {\"signer\": \"intermediate\"}}",
                       "secrets.signer: \"intermediate\" needs secrets.wrapping");
        /* The keys Secret holds the intermediate under "intermediate.*": no volume key may take those names. */
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"intermediate.key\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\"}]}",
                       "volumes[0].name: \"intermediate.key\": Secret keys starting with \"intermediate.\" are reserved");
        ASSERT_REFUSED("{\"volumes\": [{\"name\": \"a\", \"key\": \"intermediate.crt\", \"device\": \"/dev/vdb\", \"mountpoint\": \"/m\"}]}",
                       "volumes[0].key: \"intermediate.crt\": Secret keys starting with");
}
