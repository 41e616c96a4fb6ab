/* Unit tests of src/core/config.c: defaults, the YAML schema, every error
 * sentence with its line, key files, WEBRTC2_* overrides, validation and
 * allocation failure at every step. Files are written under a mkdtemp()
 * directory made by the group setup. */
#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define SECRET "0123456789abcdef0123456789abcdef-secret"

static const char k_ec_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEj9GjivBGpMqAHKToQRbaoBU7L0O+\n"
                               "QWW48+u9YSUyiDVJtcX6Kgdn9vZLTs/jnCazimD41imSRbL5UCmYmVeViA==\n"
                               "-----END PUBLIC KEY-----\n";

static const char k_ec_priv[] = "-----BEGIN PRIVATE KEY-----\n"
                                "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
                                "-----END PRIVATE KEY-----\n";

/* A file using every key of the schema (the example of docs/operations.md). */
static const char k_full[] =
    "domain: example.org\n"
    "state_dir: /var/lib/webrtc2\n"
    "web_root: web\n"
    "listen:\n"
    "  - address: 127.0.0.1:8080\n"
    "    tls: false\n"
    "  - address: 0.0.0.0:8443\n"
    "  - address: \"[::1]:9443\"\n"
    "    tls: true\n"
    "tls:\n"
    "  cert_file: /etc/webrtc2/cert.pem\n"
    "  key_file: key.pem\n"
    "auth:\n"
    "  audience: webrtc2\n"
    "  issuer: https://idp.example.org\n"
    "  clock_skew: 30\n"
    "  keys:\n"
    "    - id: main\n"
    "      alg: HS256\n"
    "      secret: \"" SECRET "\"\n"
    "    - alg: ES256\n"
    "      public_key_file: es256.pem\n"
    "    - alg: HS256\n"
    "      secret_file: hs.secret\n"
    "ice_servers:\n"
    "  - urls: [\"stun:stun.example.org:3478\", \"stun:stun2.example.org\"]\n"
    "  - urls: turns:turn.example.org:5349\n"
    "    username: u\n"
    "    credential: c\n"
    "limits:\n"
    "  max_message_bytes: 1000\n"
    "  max_queued_bytes: 2000\n"
    "  messages_per_second: 3\n"
    "  message_burst: 4\n"
    "  sessions_per_user: 5\n"
    "  rooms_per_session: 6\n"
    "  room_size: 7\n"
    "  max_connections: 8\n"
    "  abuse_threshold: 9\n"
    "  hello_timeout_ms: 10\n"
    "  ping_interval_ms: 11\n"
    "  ping_timeout_ms: 4294967295\n"
    "logging:\n"
    "  level: debug\n"
    "  connections: pseudonymous\n"
    "shutdown:\n"
    "  drain_timeout_ms: 0\n";

static char g_dir[64]; /* the group's temp dir */

/* ---- helpers ---- */

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

static int group_setup(void **state)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/w2-test-config-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	write_text("es256.pem", k_ec_pub);
	write_text("private.pem", k_ec_priv);
	write_text("hs.secret", SECRET "\n");
	write_text("short.secret", "too short\n");
	write_text("garbage.pem", "hello\n");
	return 0;
}

static int group_teardown(void **state)
{
	static const char *const names[] = {"es256.pem",    "private.pem", "hs.secret",
	                                    "short.secret", "garbage.pem", "big.secret",
	                                    "config.yaml",  "big.yaml"};
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", g_dir, names[i]);
		unlink(path);
	}
	rmdir(g_dir);
	return 0;
}

/* Parses `yaml` (base dir: the temp dir), expecting success. */
static struct w2_config *parse_ok(const char *yaml)
{
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg = NULL;
	int rc = w2_config_parse(yaml, strlen(yaml), g_dir, &cfg, err);

	if (rc != 0)
		fail_msg("unexpected error %d: %s", rc, err);
	assert_non_null(cfg);
	return cfg;
}

/* Parses `yaml`, expecting W2_ECONFIG and exactly the sentence `want`. */
static void parse_fails(const char *yaml, const char *want)
{
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg = (struct w2_config *)&err; /* must be reset to NULL */
	int rc = w2_config_parse(yaml, strlen(yaml), g_dir, &cfg, err);

	assert_int_equal(rc, W2_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, want);
}

static void assert_default_limits(const struct w2_limits *l)
{
	assert_int_equal(l->max_message_bytes, 65536);
	assert_int_equal(l->max_queued_bytes, 1048576);
	assert_int_equal(l->messages_per_second, 50);
	assert_int_equal(l->message_burst, 200);
	assert_int_equal(l->sessions_per_user, 10);
	assert_int_equal(l->rooms_per_session, 32);
	assert_int_equal(l->room_size, 256);
	assert_int_equal(l->max_connections, 19000);
	assert_int_equal(l->abuse_threshold, 20);
	assert_int_equal(l->hello_timeout_ms, 10000);
	assert_int_equal(l->ping_interval_ms, 30000);
	assert_int_equal(l->ping_timeout_ms, 75000);
}

static void assert_defaults(const struct w2_config *c)
{
	assert_string_equal(c->domain, "localhost");
	assert_string_equal(c->state_dir, "var");
	assert_string_equal(c->web_root, "web");
	assert_int_equal(c->n_listen, 1);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 8080);
	assert_false(c->listen[0].tls);
	assert_null(c->tls_cert_file);
	assert_null(c->tls_key_file);
	assert_int_equal(c->n_keys, 0);
	assert_null(c->audience);
	assert_null(c->issuer);
	assert_int_equal(c->clock_skew_s, 60);
	assert_int_equal(c->n_ice_servers, 0);
	assert_int_equal(c->log_level, W2_LOG_LEVEL_INFO);
	assert_int_equal(c->conn_logging, W2_CONN_LOG_NONE);
	assert_int_equal(c->drain_timeout_ms, 5000);
	assert_int_equal(c->guest_token_ttl_s, 43200);
	assert_default_limits(&c->limits);
}

/* ---- defaults and valid files ---- */

static void test_defaults(void **state)
{
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;

	assert_int_equal(w2_config_default(&c), 0);
	assert_defaults(c);
	assert_true(c->guest_tokens); /* the embedded default listens on loopback only */
	assert_int_equal(w2_config_validate(c, err), 0);
	w2_config_destroy(c);
	w2_config_destroy(NULL);
}

static void test_empty_documents(void **state)
{
	static const char *const texts[] = {
	    "",          "# only a comment\n",      "---\n", "~\n", "---\n...\n",
	    "limits:\n", "limits: {}\nlogging: ~\n"};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct w2_config *c = parse_ok(texts[i]);

		assert_defaults(c);
		assert_false(c->guest_tokens); /* a file must ask for guest sign-in */
		w2_config_destroy(c);
	}
}

static void check_full_keys(const struct w2_config *c)
{
	char path[256];

	assert_int_equal(c->n_keys, 3);
	assert_string_equal(c->keys[0].kid, "main");
	assert_int_equal(c->keys[0].alg, W2_JWT_HS256);
	assert_int_equal(c->keys[0].material_len, strlen(SECRET));
	assert_memory_equal(c->keys[0].material, SECRET, strlen(SECRET));
	assert_null(c->keys[1].kid);
	assert_int_equal(c->keys[1].alg, W2_JWT_ES256);
	assert_int_equal(c->keys[1].material_len, strlen(k_ec_pub));
	assert_memory_equal(c->keys[1].material, k_ec_pub, strlen(k_ec_pub));
	/* secret_file: the trailing newline is not part of the secret */
	assert_int_equal(c->keys[2].material_len, strlen(SECRET));
	assert_memory_equal(c->keys[2].material, SECRET, strlen(SECRET));
	snprintf(path, sizeof(path), "%s/key.pem", g_dir);
	assert_string_equal(c->tls_key_file, path);
	assert_string_equal(c->tls_cert_file, "/etc/webrtc2/cert.pem");
	assert_string_equal(c->audience, "webrtc2");
	assert_string_equal(c->issuer, "https://idp.example.org");
	assert_int_equal(c->clock_skew_s, 30);
}

static void check_full_ice_and_limits(const struct w2_config *c)
{
	const struct w2_limits *l = &c->limits;

	assert_int_equal(c->n_ice_servers, 2);
	assert_int_equal(c->ice_servers[0].n_urls, 2);
	assert_string_equal(c->ice_servers[0].urls[0], "stun:stun.example.org:3478");
	assert_string_equal(c->ice_servers[0].urls[1], "stun:stun2.example.org");
	assert_null(c->ice_servers[0].username);
	assert_int_equal(c->ice_servers[1].n_urls, 1);
	assert_string_equal(c->ice_servers[1].urls[0], "turns:turn.example.org:5349");
	assert_string_equal(c->ice_servers[1].username, "u");
	assert_string_equal(c->ice_servers[1].credential, "c");
	assert_int_equal(l->max_message_bytes, 1000);
	assert_int_equal(l->max_queued_bytes, 2000);
	assert_int_equal(l->messages_per_second, 3);
	assert_int_equal(l->message_burst, 4);
	assert_int_equal(l->sessions_per_user, 5);
	assert_int_equal(l->rooms_per_session, 6);
	assert_int_equal(l->room_size, 7);
	assert_int_equal(l->max_connections, 8);
	assert_int_equal(l->abuse_threshold, 9);
	assert_int_equal(l->hello_timeout_ms, 10);
	assert_int_equal(l->ping_interval_ms, 11);
	assert_int_equal(l->ping_timeout_ms, 4294967295u);
}

static void test_full_file(void **state)
{
	char err[W2_CONFIG_ERR_MAX], path[256];
	struct w2_config *c = parse_ok(k_full);

	assert_string_equal(c->domain, "example.org");
	assert_string_equal(c->state_dir, "/var/lib/webrtc2");
	snprintf(path, sizeof(path), "%s/web", g_dir);
	assert_string_equal(c->web_root, path);
	assert_int_equal(c->n_listen, 3);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 8080);
	assert_false(c->listen[0].tls);
	assert_string_equal(c->listen[1].host, "0.0.0.0");
	assert_int_equal(c->listen[1].port, 8443);
	assert_true(c->listen[1].tls); /* non-loopback: TLS without being asked */
	assert_string_equal(c->listen[2].host, "::1");
	assert_int_equal(c->listen[2].port, 9443);
	assert_true(c->listen[2].tls);
	check_full_keys(c);
	check_full_ice_and_limits(c);
	assert_int_equal(c->log_level, W2_LOG_LEVEL_DEBUG);
	assert_int_equal(c->conn_logging, W2_CONN_LOG_PSEUDONYMOUS);
	assert_int_equal(c->drain_timeout_ms, 0);
	assert_int_equal(w2_config_validate(c, err), 0);
	w2_config_destroy(c);
}

static void test_odd_but_valid(void **state)
{
	const char *text;
	struct w2_config *c;

	/* Flow style, quoted numbers, tags, anchors without aliases, web_root off. */
	c = parse_ok(
	    "{limits: {room_size: \"12\", max_connections: !!int 13}, web_root: ~,\n"
	    " listen: [{address: 'localhost:1', tls: false}], logging: &l {level: trace}}\n");
	assert_int_equal(c->limits.room_size, 12);
	assert_int_equal(c->limits.max_connections, 13);
	assert_null(c->web_root);
	assert_string_equal(c->listen[0].host, "localhost");
	assert_false(c->listen[0].tls);
	assert_int_equal(c->log_level, W2_LOG_LEVEL_TRACE);
	w2_config_destroy(c);
	/* Without base_dir relative paths stay relative; "" clears optional strings. */
	c = NULL;
	text = "state_dir: s\nauth: {audience: \"\"}\n";
	assert_int_equal(w2_config_parse(text, strlen(text), NULL, &c, NULL), 0);
	assert_string_equal(c->state_dir, "s");
	assert_null(c->audience);
	w2_config_destroy(c);
	/* A base dir of "/" or with a trailing slash gives no double slash. */
	assert_int_equal(w2_config_parse("state_dir: s\n", 13, "/", &c, NULL), 0);
	assert_string_equal(c->state_dir, "/s");
	w2_config_destroy(c);
	assert_int_equal(w2_config_parse("state_dir: s\n", 13, "etc//", &c, NULL), 0);
	assert_string_equal(c->state_dir, "etc/s");
	w2_config_destroy(c);
}

/* ---- errors, each with its line ---- */

struct bad {
	const char *yaml;
	const char *err;
};

static const struct bad k_bad_values[] = {
    {"domain: example.org\n\nlimits:\n  room_size: 10\n\n\n  max_connections: 5\n"
     "  ping_timeout_ms: 7\n  hello_timeout_ms: many\n",
     "line 9: limits.hello_timeout_ms: expected a positive integer, got \"many\""},
    {"limits:\n  room_size: many\n",
     "line 2: limits.room_size: expected a positive integer, got \"many\""},
    {"limits:\n  room_size: 0\n",
     "line 2: limits.room_size: expected a positive integer, got \"0\""},
    {"limits:\n  room_size: -1\n",
     "line 2: limits.room_size: expected a positive integer, got \"-1\""},
    {"limits:\n  room_size: +1\n",
     "line 2: limits.room_size: expected a positive integer, got \"+1\""},
    {"limits:\n  room_size: 0x10\n",
     "line 2: limits.room_size: expected a positive integer, got \"0x10\""},
    {"limits:\n  room_size: 010\n",
     "line 2: limits.room_size: expected a positive integer, got \"010\""},
    {"limits:\n  room_size: 1e3\n",
     "line 2: limits.room_size: expected a positive integer, got \"1e3\""},
    {"limits:\n  room_size: 1_000\n",
     "line 2: limits.room_size: expected a positive integer, got \"1_000\""},
    {"limits:\n  room_size: 4294967296\n",
     "line 2: limits.room_size: \"4294967296\" is out of range (at most 4294967295)"},
    {"limits:\n  room_size: 99999999999999999999999999999\n",
     "line 2: limits.room_size: \"99999999999999999999999999999\" is out of range (at most "
     "4294967295)"},
    {"limits:\n  room_size:\n",
     "line 2: limits.room_size: expected a positive integer, got nothing"},
    {"limits:\n  room_size: [1]\n",
     "line 2: limits.room_size: expected a positive integer, got a list"},
    {"shutdown:\n  drain_timeout_ms: -5\n",
     "line 2: shutdown.drain_timeout_ms: expected a non-negative integer, got \"-5\""},
    {"auth:\n  clock_skew: 86401\n",
     "line 2: auth.clock_skew: \"86401\" is out of range (at most 86400)"},
    {"limits: 5\n", "line 1: limits: expected a mapping of keys, got \"5\""},
    {"domain: [a]\n", "line 1: domain: expected a string, got a list"},
    {"domain: \"exa mple.org\"\n", "line 1: domain: \"exa mple.org\" is not a valid DNS name"},
    {"domain: -bad.org\n", "line 1: domain: \"-bad.org\" is not a valid DNS name"},
    {"domain: \"\"\n", "line 1: domain: must not be empty"},
    {"state_dir: |\n  /var/lib/webrtc2\n",
     "line 1: state_dir: must not contain control characters (newline, tab, ...)"},
    {"domain: \"a\\0b\"\n", "line 1: domain: NUL characters are not allowed in values"},
    {"logging:\n  level: verbose\n",
     "line 2: logging.level: unknown level \"verbose\" (use error, warn, info, debug or trace)"},
    {"logging:\n  level: INFO\n",
     "line 2: logging.level: unknown level \"INFO\" (use error, warn, info, debug or trace)"},
    {"logging:\n  connections: all\n",
     "line 2: logging.connections: unknown mode \"all\" (use none, anonymous or pseudonymous)"},
    {"listen:\n  - address: 127.0.0.1:80\n    tls: yes\n",
     "line 3: listen[0].tls: expected true or false, got \"yes\""},
    {"domain: \"\\e[31mred\"\n",
     "line 1: domain: must not contain control characters (newline, tab, ...)"},
    {"logging:\n  level: \"\\e[31mred\"\n", "line 2: logging.level: unknown level \"?[31mred\" "
                                            "(use error, warn, info, debug or trace)"},
    {"domain: \""
     "0123456789012345678901234567890123456789\u00e9x.org\"\n",
     "line 1: domain: \"0123456789012345678901234567890123456789...\" is not a valid DNS name"},
    {"domain: \""
     "012345678901234567890123456789012345678\u00e9x.org\"\n",
     "line 1: domain: \"012345678901234567890123456789012345678...\" is not a valid DNS name"},
};

static const struct bad k_bad_listen[] = {
    {"listen:\n  - address: 127.0.0.1:8080\n  - address: 0.0.0.0:8443\n    tls: false\n",
     "line 4: listen[1]: 0.0.0.0:8443 is not a loopback address and needs tls: true"},
    {"listen:\n  - address: \"[2001:db8::1]:443\"\n    tls: false\n",
     "line 3: listen[0]: [2001:db8::1]:443 is not a loopback address and needs tls: true"},
    {"listen:\n  - address: 127.0.0.1\n",
     "line 2: listen[0].address: \"127.0.0.1\" is not host:port (IPv6 as [::1]:8443)"},
    {"listen:\n  - address: 127.0.0.1:0\n",
     "line 2: listen[0].address: \"127.0.0.1:0\" has no port from 1 to 65535"},
    {"listen:\n  - address: 127.0.0.1:65536\n",
     "line 2: listen[0].address: \"127.0.0.1:65536\" has no port from 1 to 65535"},
    {"listen:\n  - address: 127.0.0.1:http\n",
     "line 2: listen[0].address: \"127.0.0.1:http\" has no port from 1 to 65535"},
    {"listen:\n  - address: ::1:8080\n",
     "line 2: listen[0].address: \"::1:8080\" needs brackets around an IPv6 address ([::1]:8443)"},
    {"listen:\n  - address: \"[::1]8080\"\n",
     "line 2: listen[0].address: \"[::1]8080\" is not host:port (IPv6 as [::1]:8443)"},
    {"listen:\n  - address: \"[127.0.0.1]:80\"\n",
     "line 2: listen[0].address: \"[127.0.0.1]:80\" has a host that is not a numeric IP address "
     "or localhost"},
    {"listen:\n  - address: example.org:443\n",
     "line 2: listen[0].address: \"example.org:443\" has a host that is not a numeric IP "
     "address or localhost"},
    {"listen:\n  - tls: true\n", "line 2: listen[0]: missing key \"address\""},
    {"listen: []\n", "line 1: listen: needs at least one address"},
    {"listen:\n", "line 1: listen: needs at least one address"},
    {"listen: 127.0.0.1:80\n",
     "line 1: listen: expected a list of addresses, got \"127.0.0.1:80\""},
    {"listen:\n  - 127.0.0.1:80\n",
     "line 2: listen[0]: expected a mapping of keys, got \"127.0.0.1:80\""},
    {"listen: [{address: '127.0.0.1:1'}, {address: '127.0.0.1:2'}, {address: '127.0.0.1:3'},\n"
     " {address: '127.0.0.1:4'}, {address: '127.0.0.1:5'}, {address: '127.0.0.1:6'},\n"
     " {address: '127.0.0.1:7'}, {address: '127.0.0.1:8'}, {address: '127.0.0.1:9'},\n"
     " {address: '127.0.0.1:10'}, {address: '127.0.0.1:11'}, {address: '127.0.0.1:12'},\n"
     " {address: '127.0.0.1:13'}, {address: '127.0.0.1:14'}, {address: '127.0.0.1:15'},\n"
     " {address: '127.0.0.1:16'}, {address: '127.0.0.1:17'}]\n",
     "line 6: listen: too many items (at most 16)"},
};

static const struct bad k_bad_keys[] = {
    {"domain: example.org\n"
     "listen:\n"
     "  - address: 127.0.0.1:8080\n"
     "auth:\n"
     "  audience: webrtc2\n"
     "  issuer: https://idp.example.org\n"
     "  keys:\n"
     "    - id: main\n"
     "      alg: HS256\n"
     "      secret: \"" SECRET "\"\n"
     "    - id: next\n"
     "      alg: EdDSA\n",
     "line 12: auth.keys[1].alg: unsupported algorithm \"EdDSA\" (use HS256, RS256 or ES256)"},
    {"auth:\n  keys:\n    - alg: hs256\n      secret: x\n",
     "line 3: auth.keys[0].alg: unsupported algorithm \"hs256\" (use HS256, RS256 or ES256)"},
    {"auth:\n  keys:\n    - alg: HS256\n      secret: only-31-bytes-long-0123456789ab\n",
     "line 4: auth.keys[0].secret: an HS256 secret needs at least 32 bytes, this one has 31"},
    {"auth:\n  keys:\n    - alg: HS256\n      secret_file: short.secret\n",
     "line 4: auth.keys[0].secret_file: an HS256 secret needs at least 32 bytes, this one has 9"},
    {"auth:\n  keys:\n    - alg: HS256\n      secret: \"" SECRET
     "\"\n      secret_file: hs.secret\n",
     "line 5: auth.keys[0].secret_file: give either secret or secret_file, not both"},
    {"auth:\n  keys:\n    - alg: HS256\n      id: x\n",
     "line 3: auth.keys[0]: an HS256 key needs secret or secret_file"},
    {"auth:\n  keys:\n    - alg: HS256\n      public_key_file: es256.pem\n",
     "line 4: auth.keys[0].public_key_file: is for RS256 and ES256 keys; an HS256 key takes "
     "secret or secret_file"},
    {"auth:\n  keys:\n    - alg: RS256\n      secret: \"" SECRET "\"\n",
     "line 4: auth.keys[0].secret: is for HS256 keys; an RS256 key takes public_key_file"},
    {"auth:\n  keys:\n    - alg: ES256\n",
     "line 3: auth.keys[0]: an ES256 key needs public_key_file"},
    {"auth:\n  keys:\n    - alg: ES256\n      public_key_file: private.pem\n",
     "line 4: auth.keys[0].public_key_file: holds a private key; give the public key (openssl "
     "pkey -pubout)"},
    {"auth:\n  keys:\n    - alg: ES256\n      public_key_file: garbage.pem\n",
     "line 4: auth.keys[0].public_key_file: is not a PEM public key (no \"-----BEGIN PUBLIC "
     "KEY-----\" line)"},
    {"auth:\n  keys:\n    - id: a\n      secret: x\n",
     "line 3: auth.keys[0]: missing key \"alg\" (HS256, RS256 or ES256)"},
    {"auth:\n  keys:\n    - alg: HS256\n      secret: [x]\n",
     "line 4: auth.keys[0].secret: expected the secret as a non-empty string"},
    {"auth:\n  keys:\n    - alg: HS256\n      secret_file: /\n",
     "line 4: auth.keys[0].secret_file: cannot read /: not a regular file"},
};

static const struct bad k_bad_other[] = {
    {"domain: example.org\nstate_dir: var\nlisen:\n  - address: 127.0.0.1:8080\n",
     "line 3: unknown key \"lisen\" (did you mean \"listen\"?)"},
    {"limits:\n  room_sise: 5\n",
     "line 2: limits: unknown key \"room_sise\" (did you mean \"room_size\"?)"},
    {"listen:\n  - adress: 127.0.0.1:80\n",
     "line 2: listen[0]: unknown key \"adress\" (did you mean \"address\"?)"},
    {"frobnicate: 1\n", "line 1: unknown key \"frobnicate\""},
    {"a: 1\n", "line 1: unknown key \"a\""},
    {"domain: a.org\ndomain: b.org\n", "line 2: duplicate key \"domain\" (first on line 1)"},
    {"? [domain]\n: x\n", "line 1: keys must be plain strings"},
    {"- domain: x\n", "line 1: expected a mapping of keys at the top level, got a list"},
    {"just text\n", "line 1: expected a mapping of keys at the top level, got \"just text\""},
    {"domain: a.org\n---\ndomain: b.org\n", "line 2: only one YAML document is allowed"},
    {"x: &a 5\nlimits:\n  room_size: *a\n", "line 1: unknown key \"x\""},
    {"logging: &a {level: info}\nshutdown: *a\n",
     "line 2: shutdown: YAML aliases (*name) are not supported here; write the value out"},
    {"domain: example.org\nlimits:\n  room_size: 5\n bad: indent\n",
     "line 4: YAML syntax error: did not find expected key (while parsing a block mapping)"},
    {"domain: [a, b\n", "line 1: domain: expected a string, got a list"},
    {"ice_servers:\n  - urls: [stun:a.org, stun:b.org\n",
     "line 3: YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
     "sequence)"},
    {"domain: \"unterminated\n",
     "line 2: YAML syntax error: found unexpected end of stream (while scanning a quoted "
     "scalar)"},
    {"domain: x\n\tlimits: 1\n", "line 2: YAML syntax error: found a tab character that "
                                 "violates indentation (while scanning a plain scalar)"},
    {"domain: x\nlimits:\n\troom_size: 1\n",
     "line 3: YAML syntax error: found character "
     "that cannot start any token (while scanning for the next token)"},
    {"domain: ok\nweb_root: \xff\xfe\n",
     "line 2: YAML error: invalid leading UTF-8 octet (at byte offset 21)"},
    {"ice_servers:\n  - urls: http://example.org\n",
     "line 2: ice_servers[0].urls: \"http://example.org\" is not a stun:, stuns:, turn: or "
     "turns: URL"},
    {"ice_servers:\n  - urls:\n      - stun:a.org\n      - 'stun:'\n",
     "line 4: ice_servers[0].urls[1]: \"stun:\" is not a stun:, stuns:, turn: or turns: URL"},
    {"ice_servers:\n  - urls: []\n", "line 2: ice_servers[0].urls: needs at least one URL"},
    {"ice_servers:\n  - username: u\n", "line 2: ice_servers[0]: missing key \"urls\""},
    {"ice_servers:\n  - urls: turn:t.org\n    username: u\n",
     "line 2: ice_servers[0]: turn: and turns: URLs need username and credential"},
};

static void run_bad(const struct bad *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		print_message("case %zu: %s\n", i, cases[i].err);
		parse_fails(cases[i].yaml, cases[i].err);
	}
}

static void test_bad_values(void **state)
{
	run_bad(k_bad_values, sizeof(k_bad_values) / sizeof(k_bad_values[0]));
}

static void test_bad_listen(void **state)
{
	run_bad(k_bad_listen, sizeof(k_bad_listen) / sizeof(k_bad_listen[0]));
}

static void test_bad_keys(void **state)
{
	run_bad(k_bad_keys, sizeof(k_bad_keys) / sizeof(k_bad_keys[0]));
}

static void test_bad_other(void **state)
{
	run_bad(k_bad_other, sizeof(k_bad_other) / sizeof(k_bad_other[0]));
}

static void test_key_file_unreadable(void **state)
{
	char want[W2_CONFIG_ERR_MAX];

	snprintf(want, sizeof(want),
	         "line 4: auth.keys[0].public_key_file: cannot read "
	         "%s/missing.pem: No such file or directory",
	         g_dir);
	parse_fails("auth:\n  keys:\n    - alg: RS256\n      public_key_file: missing.pem\n", want);
	parse_fails("auth:\n  keys:\n    - alg: RS256\n      public_key_file: /nonexistent/x.pem\n",
	            "line 4: auth.keys[0].public_key_file: cannot read /nonexistent/x.pem: No such "
	            "file or directory");
}

static void test_key_file_too_large(void **state)
{
	char want[W2_CONFIG_ERR_MAX];
	char *big = malloc(65537);

	assert_non_null(big);
	memset(big, 'k', 65537);
	write_file("big.secret", big, 65537);
	snprintf(want, sizeof(want),
	         "line 4: auth.keys[0].secret_file: %s/big.secret is larger "
	         "than 65536 bytes",
	         g_dir);
	parse_fails("auth:\n  keys:\n    - alg: HS256\n      secret_file: big.secret\n", want);
	write_file("big.secret", big, 65536);
	free(big);
	w2_config_destroy(parse_ok("auth:\n  keys:\n    - alg: HS256\n      secret_file: "
	                           "big.secret\n"));
}

static void test_alias_bomb(void **state)
{
	static const char bomb[] = "a: &a [x, x, x, x, x, x, x, x, x]\n"
	                           "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	                           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	                           "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
	static const char bomb_in_schema[] = "ice_servers: &s\n"
	                                     "  - urls: &u [stun:a.org, stun:a.org]\n"
	                                     "  - urls: *u\n";

	parse_fails(bomb, "line 1: unknown key \"a\"");
	parse_fails(bomb_in_schema, "line 3: ice_servers[1].urls: YAML aliases (*name) are not "
	                            "supported here; write the value out");
}

static void test_too_large_text(void **state)
{
	size_t n = 1024 * 1024 + 1;
	char *text = malloc(n);
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;

	assert_non_null(text);
	memset(text, '#', n);
	assert_int_equal(w2_config_parse(text, n, NULL, &c, err), W2_ECONFIG);
	assert_string_equal(err, "the config is larger than 1 MiB");
	assert_null(c);
	free(text);
}

/* ---- load ---- */

static void test_load(void **state)
{
	char err[W2_CONFIG_ERR_MAX], path[256], want[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;

	write_text("config.yaml", "state_dir: st\nauth:\n  keys:\n    - alg: ES256\n"
	                          "      public_key_file: es256.pem\n");
	snprintf(path, sizeof(path), "%s/config.yaml", g_dir);
	assert_int_equal(w2_config_load(path, &c, err), 0);
	snprintf(want, sizeof(want), "%s/st", g_dir);
	assert_string_equal(c->state_dir, want);
	assert_int_equal(c->n_keys, 1);
	w2_config_destroy(c);

	snprintf(path, sizeof(path), "%s/nope.yaml", g_dir);
	assert_int_equal(w2_config_load(path, &c, err), W2_ECONFIG);
	snprintf(want, sizeof(want), "cannot read config file %s: No such file or directory", path);
	assert_string_equal(err, want);
	assert_null(c);

	assert_int_equal(w2_config_load(g_dir, &c, err), W2_ECONFIG);
	snprintf(want, sizeof(want), "cannot read config file %s: not a regular file", g_dir);
	assert_string_equal(err, want);

	write_text("config.yaml", "limits:\n  room_size: many\n");
	snprintf(path, sizeof(path), "%s/config.yaml", g_dir);
	assert_int_equal(w2_config_load(path, &c, err), W2_ECONFIG);
	assert_string_equal(err,
	                    "line 2: limits.room_size: expected a positive integer, got \"many\"");
}

static void test_load_too_large(void **state)
{
	char err[W2_CONFIG_ERR_MAX], path[256], want[W2_CONFIG_ERR_MAX];
	size_t n = 1024 * 1024 + 1;
	struct w2_config *c = NULL;
	char *text = malloc(n);

	assert_non_null(text);
	memset(text, '#', n);
	write_file("big.yaml", text, n);
	free(text);
	snprintf(path, sizeof(path), "%s/big.yaml", g_dir);
	assert_int_equal(w2_config_load(path, &c, err), W2_ECONFIG);
	snprintf(want, sizeof(want), "config file %s is larger than 1 MiB", path);
	assert_string_equal(err, want);
	assert_null(c);
}

/* ---- environment ---- */

static void test_env_overrides(void **state)
{
	char *env[] = {
	    "PATH=/usr/bin",
	    "WEBRTC2_CONFIG=/etc/webrtc2/config.yaml",
	    "WEBRTC2_DOMAIN=chat.example.org",
	    "WEBRTC2_STATE_DIR=/srv/state",
	    "WEBRTC2_WEB_ROOT=",
	    "WEBRTC2_LISTEN=127.0.0.1:9000, [::]:9443,localhost:9001",
	    "WEBRTC2_TLS_CERT_FILE=/c.pem",
	    "WEBRTC2_TLS_KEY_FILE=/k.pem",
	    "WEBRTC2_AUTH_AUDIENCE=aud",
	    "WEBRTC2_AUTH_ISSUER=iss",
	    "WEBRTC2_LOG_LEVEL=warn",
	    "WEBRTC2_LOG_CONNECTIONS=anonymous",
	    "WEBRTC2_LIMITS_ROOM_SIZE=99",
	    "WEBRTC2_LIMITS_MAX_MESSAGE_BYTES=1024",
	    "WEBRTC2_LIMITS_PING_TIMEOUT_MS=40000",
	    NULL,
	};
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;

	assert_int_equal(w2_config_default(&c), 0);
	assert_int_equal(w2_config_apply_env(c, env, err), 0);
	assert_string_equal(c->domain, "chat.example.org");
	assert_string_equal(c->state_dir, "/srv/state");
	assert_null(c->web_root);
	assert_int_equal(c->n_listen, 3);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 9000);
	assert_false(c->listen[0].tls);
	assert_string_equal(c->listen[1].host, "::");
	assert_true(c->listen[1].tls);
	assert_string_equal(c->listen[2].host, "localhost");
	assert_false(c->listen[2].tls);
	assert_string_equal(c->tls_cert_file, "/c.pem");
	assert_string_equal(c->tls_key_file, "/k.pem");
	assert_string_equal(c->audience, "aud");
	assert_string_equal(c->issuer, "iss");
	assert_int_equal(c->log_level, W2_LOG_LEVEL_WARN);
	assert_int_equal(c->conn_logging, W2_CONN_LOG_ANONYMOUS);
	assert_int_equal(c->limits.room_size, 99);
	assert_int_equal(c->limits.max_message_bytes, 1024);
	assert_int_equal(c->limits.ping_timeout_ms, 40000);
	assert_int_equal(c->limits.message_burst, 200);
	w2_config_destroy(c);
}

static void env_fails(const char *var, const char *want)
{
	char *env[] = {(char *)var, NULL};
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *c = NULL;

	assert_int_equal(w2_config_default(&c), 0);
	assert_int_equal(w2_config_apply_env(c, env, err), W2_ECONFIG);
	assert_string_equal(err, want);
	w2_config_destroy(c);
}

static void test_env_errors(void **state)
{
	env_fails("WEBRTC2_LIMITS_ROOM_SIZE=many",
	          "WEBRTC2_LIMITS_ROOM_SIZE: expected a positive integer, got \"many\"");
	env_fails("WEBRTC2_LIMITS_ROOM_SIZE=0",
	          "WEBRTC2_LIMITS_ROOM_SIZE: expected a positive integer, got \"0\"");
	env_fails("WEBRTC2_LIMITS_ROOM_SIZE=4294967296",
	          "WEBRTC2_LIMITS_ROOM_SIZE: \"4294967296\" is out of range (at most 4294967295)");
	env_fails("WEBRTC2_LISTN=127.0.0.1:1",
	          "WEBRTC2_LISTN: unknown variable (did you mean WEBRTC2_LISTEN?)");
	env_fails(
	    "WEBRTC2_LIMITS_ROOMSIZE=5",
	    "WEBRTC2_LIMITS_ROOMSIZE: unknown variable (did you mean WEBRTC2_LIMITS_ROOM_SIZE?)");
	env_fails("WEBRTC2_limits_room_size=5",
	          "WEBRTC2_limits_room_size: unknown variable (docs/operations.md lists them)");
	env_fails("WEBRTC2_FROBNICATE=1",
	          "WEBRTC2_FROBNICATE: unknown variable (docs/operations.md lists them)");
	env_fails("WEBRTC2_LISTEN=127.0.0.1:1,nope",
	          "WEBRTC2_LISTEN: \"nope\" is not host:port (IPv6 as [::1]:8443)");
	env_fails("WEBRTC2_LISTEN=", "WEBRTC2_LISTEN: \"\" is not host:port (IPv6 as [::1]:8443)");
	env_fails("WEBRTC2_DOMAIN=not a domain",
	          "WEBRTC2_DOMAIN: \"not a domain\" is not a valid DNS name");
	env_fails("WEBRTC2_STATE_DIR=", "WEBRTC2_STATE_DIR: must not be empty");
	env_fails("WEBRTC2_WEB_ROOT=/srv/\tweb",
	          "WEBRTC2_WEB_ROOT: must not contain control characters (newline, tab, ...)");
	env_fails(
	    "WEBRTC2_LOG_LEVEL=loud",
	    "WEBRTC2_LOG_LEVEL: unknown level \"loud\" (use error, warn, info, debug or trace)");
	env_fails("WEBRTC2_LOG_CONNECTIONS=everything",
	          "WEBRTC2_LOG_CONNECTIONS: unknown mode \"everything\" (use none, anonymous or "
	          "pseudonymous)");
	/* Applied, then validated as a whole. */
	env_fails("WEBRTC2_TLS_CERT_FILE=/c.pem",
	          "tls: cert_file and key_file must be set together (only cert_file is set)");
	env_fails("WEBRTC2_LIMITS_PING_TIMEOUT_MS=30000",
	          "limits.ping_timeout_ms (30000) must be greater than limits.ping_interval_ms "
	          "(30000)");
}

/* ---- validation ---- */

static void validate_fails(struct w2_config *c, const char *want)
{
	char err[W2_CONFIG_ERR_MAX] = "";

	assert_int_equal(w2_config_validate(c, err), W2_ECONFIG);
	assert_string_equal(err, want);
}

static void test_validate(void **state)
{
	struct w2_config *c = NULL;
	struct w2_limits saved;

	assert_int_equal(w2_config_default(&c), 0);
	strcpy(c->listen[0].host, "0.0.0.0");
	validate_fails(c, "listen[0]: 0.0.0.0:8080 is not a loopback address and needs tls: true");
	c->listen[0].tls = true;
	saved = c->limits;
	c->limits.message_burst = 0;
	validate_fails(c, "limits.message_burst must be a positive integer");
	c->limits = saved;
	c->limits.max_queued_bytes = 100;
	validate_fails(c, "limits.max_queued_bytes (100) must be at least limits.max_message_bytes "
	                  "(65536)");
	c->limits = saved;
	c->domain[0] = '-';
	validate_fails(c, "domain: not a valid DNS name");
	c->domain[0] = 'l';
	c->log_level = (enum w2_log_level)9;
	validate_fails(c, "logging: unknown level or connections mode");
	c->log_level = W2_LOG_LEVEL_INFO;
	w2_config_destroy(c);
}

static void test_validate_duplicates_and_keys(void **state)
{
	struct w2_auth_key k = {.kid = "k",
	                        .alg = W2_JWT_HS256,
	                        .material = (unsigned char *)"short",
	                        .material_len = 5};
	struct w2_config *c;

	c = parse_ok("listen: [{address: '127.0.0.1:1'}, {address: '127.0.0.1:1'}]\n");
	validate_fails(c, "listen[1]: 127.0.0.1:1 is listed twice");
	w2_config_destroy(c);
	c = parse_ok("tls:\n  key_file: /k.pem\n");
	validate_fails(c,
	               "tls: cert_file and key_file must be set together (only key_file is set)");
	w2_config_destroy(c);
	c = parse_ok("");
	assert_int_equal(w2_config_add_key(c, &k), 0);
	validate_fails(c, "auth.keys[0]: an HS256 secret needs at least 32 bytes");
	assert_string_equal(c->keys[0].kid, "k");
	assert_memory_equal(c->keys[0].material, "short", 5);
	assert_int_equal(w2_config_add_key(c, NULL), W2_EINVAL);
	w2_config_destroy(c);
}

/* ---- guest sign-in ---- */

#define ES256_ONLY "  keys:\n    - alg: ES256\n      public_key_file: es256.pem\n"
#define GUEST_NO_KEY                                                                               \
	"needs a key the daemon can sign with (an HS256 key in auth.keys, or no keys for the "   \
	"generated one); RS256/ES256 public keys only verify"

static void test_guest_file(void **state)
{
	struct w2_config *c;

	c = parse_ok("auth:\n  guest_tokens: true\n  guest_token_ttl: 60\n");
	assert_true(c->guest_tokens);
	assert_int_equal(c->guest_token_ttl_s, 60);
	assert_int_equal(w2_config_validate(c, NULL), 0);
	w2_config_destroy(c);
	/* An HS256 key beside a provider's public key is enough. */
	c = parse_ok("auth:\n  guest_tokens: true\n  keys:\n    - alg: HS256\n      secret: \"" SECRET
	             "\"\n    - alg: ES256\n      public_key_file: es256.pem\n");
	assert_true(c->guest_tokens);
	assert_true(w2_config_can_sign(c));
	w2_config_destroy(c);
	c = parse_ok("auth:\n  guest_tokens: false\n  guest_token_ttl: 31622400\n" ES256_ONLY);
	assert_false(c->guest_tokens);
	assert_false(w2_config_can_sign(c));
	assert_int_equal(c->guest_token_ttl_s, 31622400);
	w2_config_destroy(c);
}

static const struct bad k_bad_guest[] = {
    {"domain: example.org\nauth:\n  audience: a\n" ES256_ONLY "  guest_tokens: true\n",
     "line 7: auth.guest_tokens: " GUEST_NO_KEY},
    /* The line is that of guest_tokens, wherever the keys come. */
    {"auth:\n  guest_tokens: true\n" ES256_ONLY, "line 2: auth.guest_tokens: " GUEST_NO_KEY},
    {"auth:\n  guest_tokens: yes\n",
     "line 2: auth.guest_tokens: expected true or false, got \"yes\""},
    {"auth:\n  guest_token_ttl: 0\n",
     "line 2: auth.guest_token_ttl: expected a positive integer, got \"0\""},
    {"auth:\n  guest_token_ttl: 31622401\n",
     "line 2: auth.guest_token_ttl: \"31622401\" is out of range (at most 31622400)"},
    {"auth:\n  guest_tokenz: true\n",
     "line 2: auth: unknown key \"guest_tokenz\" (did you mean \"guest_tokens\"?)"},
};

static void test_bad_guest(void **state)
{
	run_bad(k_bad_guest, sizeof(k_bad_guest) / sizeof(k_bad_guest[0]));
}

/* Applies one variable to a config parsed from yaml; returns the result. */
static int guest_env(const char *yaml, const char *var, struct w2_config **out, char *err)
{
	char *env[] = {(char *)var, NULL};

	*out = parse_ok(yaml);
	return w2_config_apply_env(*out, env, err);
}

static void test_guest_env(void **state)
{
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *c;

	assert_int_equal(guest_env("", "WEBRTC2_AUTH_GUEST_TOKENS=true", &c, err), 0);
	assert_true(c->guest_tokens);
	w2_config_destroy(c);
	assert_int_equal(
	    guest_env("auth: {guest_tokens: true}\n", "WEBRTC2_AUTH_GUEST_TOKENS=false", &c, err),
	    0);
	assert_false(c->guest_tokens);
	w2_config_destroy(c);
	assert_int_equal(guest_env("", "WEBRTC2_AUTH_GUEST_TOKEN_TTL=120", &c, err), 0);
	assert_int_equal(c->guest_token_ttl_s, 120);
	w2_config_destroy(c);
	assert_int_equal(
	    guest_env("auth:\n" ES256_ONLY, "WEBRTC2_AUTH_GUEST_TOKENS=true", &c, err), W2_ECONFIG);
	assert_string_equal(err, "WEBRTC2_AUTH_GUEST_TOKENS: " GUEST_NO_KEY);
	w2_config_destroy(c);
	env_fails("WEBRTC2_AUTH_GUEST_TOKENS=1",
	          "WEBRTC2_AUTH_GUEST_TOKENS: expected true or false, got \"1\"");
	env_fails("WEBRTC2_AUTH_GUEST_TOKEN_TTL=0",
	          "WEBRTC2_AUTH_GUEST_TOKEN_TTL: expected a positive integer, got \"0\"");
	env_fails("WEBRTC2_AUTH_GUEST_TOKEN_TTL=-5",
	          "WEBRTC2_AUTH_GUEST_TOKEN_TTL: expected a positive integer, got \"-5\"");
	env_fails("WEBRTC2_AUTH_GUEST_TOKEN_TTL=31622401",
	          "WEBRTC2_AUTH_GUEST_TOKEN_TTL: \"31622401\" is out of range (at most 31622400)");
	env_fails("WEBRTC2_AUTH_GUEST_TOKEN=true",
	          "WEBRTC2_AUTH_GUEST_TOKEN: unknown variable (did you mean "
	          "WEBRTC2_AUTH_GUEST_TOKENS?)");
}

/* The rule holds for a config built in code too (the daemon's own path). */
static void test_guest_validate(void **state)
{
	struct w2_auth_key es = {.alg = W2_JWT_ES256,
	                         .material = (unsigned char *)k_ec_pub,
	                         .material_len = sizeof(k_ec_pub) - 1};
	struct w2_config *c = NULL;

	assert_int_equal(w2_config_default(&c), 0);
	assert_true(w2_config_can_sign(c)); /* no keys: the daemon generates one */
	assert_int_equal(w2_config_add_key(c, &es), 0);
	validate_fails(c, "auth.guest_tokens: " GUEST_NO_KEY);
	c->guest_tokens = false;
	assert_int_equal(w2_config_validate(c, NULL), 0);
	c->guest_token_ttl_s = 0;
	validate_fails(c, "auth.guest_token_ttl: must be 1 to 31622400 seconds");
	w2_config_destroy(c);
}

static void test_loopback(void **state)
{
	assert_true(w2_host_is_loopback("127.0.0.1"));
	assert_true(w2_host_is_loopback("127.255.0.9"));
	assert_true(w2_host_is_loopback("::1"));
	assert_true(w2_host_is_loopback("0:0:0:0:0:0:0:1"));
	assert_true(w2_host_is_loopback("::ffff:127.0.0.1"));
	assert_true(w2_host_is_loopback("localhost"));
	assert_false(w2_host_is_loopback("0.0.0.0"));
	assert_false(w2_host_is_loopback("::"));
	assert_false(w2_host_is_loopback("128.0.0.1"));
	assert_false(w2_host_is_loopback("::2"));
	assert_false(w2_host_is_loopback("localhost.example.org"));
	assert_false(w2_host_is_loopback("[::1]"));
	assert_false(w2_host_is_loopback(""));
	assert_false(w2_host_is_loopback(NULL));
}

/* ---- allocation failure at every step ---- */

static void test_alloc_failure_parse(void **state)
{
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;
	long n;
	int rc = W2_ENOMEM;

	for (n = 0; rc == W2_ENOMEM && n < 10000; n++) {
		w2_alloc_fail_after(n);
		rc = w2_config_parse(k_full, strlen(k_full), g_dir, &c, err);
		w2_alloc_fail_after(-1);
		if (rc == W2_ENOMEM) {
			assert_null(c);
			assert_string_equal(err, "out of memory");
		}
	}
	assert_int_equal(rc, 0);
	assert_true(n > 20);
	check_full_keys(c);
	w2_config_destroy(c);
}

static void test_alloc_failure_load_env(void **state)
{
	char *env[] = {"WEBRTC2_LISTEN=127.0.0.1:1,[::1]:2", "WEBRTC2_DOMAIN=a.org",
	               "WEBRTC2_WEB_ROOT=/w", NULL};
	struct w2_auth_key k = {.alg = W2_JWT_HS256,
	                        .material = (unsigned char *)SECRET,
	                        .material_len = sizeof(SECRET) - 1,
	                        .kid = "x"};
	char err[W2_CONFIG_ERR_MAX], path[256];
	struct w2_config *c = NULL;
	int rc = W2_ENOMEM;

	snprintf(path, sizeof(path), "%s/config.yaml", g_dir);
	write_text("config.yaml", k_full);
	for (long n = 0; rc == W2_ENOMEM; n++) {
		w2_alloc_fail_after(n);
		rc = w2_config_load(path, &c, err);
		if (rc == 0)
			rc = w2_config_apply_env(c, env, err);
		if (rc == 0)
			rc = w2_config_add_key(c, &k);
		w2_alloc_fail_after(-1);
		if (rc == W2_ENOMEM) {
			w2_config_destroy(c);
			c = NULL;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(c->n_listen, 2);
	assert_int_equal(c->n_keys, 4);
	w2_config_destroy(c);
	for (long n = 0, rc2 = W2_ENOMEM; rc2 == W2_ENOMEM; n++) {
		w2_alloc_fail_after(n);
		rc2 = w2_config_default(&c);
		w2_alloc_fail_after(-1);
		if (rc2 == W2_ENOMEM)
			assert_null(c);
	}
	w2_config_destroy(c);
}

/* ---- the TURN role ---- */

static const char k_turn[] =
    "roles: [turn]\n"
    "turn:\n"
    "  listen:\n"
    "    - address: 192.0.2.10:3478\n"
    "    - address: \"[2001:db8::1]:5349\"\n"
    "      tls: true\n"
    "  relay_ip: 192.0.2.11\n"
    "  external_ip: 198.51.100.7\n"
    "  public_host: turn.example.org\n"
    "  min_port: 40000\n"
    "  max_port: 40999\n"
    "  realm: example.org\n"
    "  secret_file: hs.secret\n"
    "  credential_ttl: 600\n"
    "  users:\n"
    "    - {name: bob, password: \"pw\"}\n"
    "  max_allocations: 100\n"
    "  max_allocations_per_user: 3\n"
    "  max_permissions: 4\n"
    "  max_channels: 5\n"
    "  max_lifetime: 1200\n"
    "  bandwidth_bytes_per_s: 0\n"
    "  unauth_requests_per_s: 7\n"
    "  allowed_peer_ranges: [127.0.0.0/8, \"::1/128\"]\n"
    "  denied_peer_ranges: [203.0.113.0/24]\n";

static void test_turn_file(void **state)
{
	struct w2_config *c = parse_ok(k_turn);
	const struct w2_turn_settings *t = &c->turn;
	char err[W2_CONFIG_ERR_MAX];

	assert_false(c->signaling_enabled);
	assert_true(t->enabled);
	assert_int_equal(t->n_listen, 2);
	assert_string_equal(t->listen[0].host, "192.0.2.10");
	assert_false(t->listen[0].tls); /* plain TURN on a public address is normal */
	assert_string_equal(t->listen[1].host, "2001:db8::1");
	assert_true(t->listen[1].tls);
	assert_string_equal(t->relay_ip, "192.0.2.11");
	assert_string_equal(t->external_ip, "198.51.100.7");
	assert_string_equal(t->public_host, "turn.example.org");
	assert_int_equal(t->min_port, 40000);
	assert_int_equal(t->max_port, 40999);
	assert_string_equal(t->realm, "example.org");
	/* The file's trailing newline is not part of the secret. */
	assert_int_equal(t->secret_len, strlen(SECRET));
	assert_memory_equal(t->secret, SECRET, strlen(SECRET));
	assert_int_equal(t->credential_ttl_s, 600);
	assert_int_equal(t->n_users, 1);
	assert_string_equal(t->users[0].name, "bob");
	assert_string_equal(t->users[0].password, "pw");
	assert_int_equal(t->max_allocations, 100);
	assert_int_equal(t->max_allocations_per_user, 3);
	assert_int_equal(t->max_permissions, 4);
	assert_int_equal(t->max_channels, 5);
	assert_int_equal(t->max_lifetime_s, 1200);
	assert_int_equal(t->bandwidth_bytes_per_s, 0);
	assert_int_equal(t->unauth_requests_per_s, 7);
	assert_int_equal(t->n_allowed_peers, 2);
	assert_int_equal(t->allowed_peers[0].prefix, 8);
	assert_int_equal(t->allowed_peers[1].family, AF_INET6);
	assert_int_equal(t->n_denied_peers, 1);
	assert_int_equal(w2_config_resolve_turn(c, err), 0);
	assert_int_equal(w2_config_validate(c, err), 0);
	assert_string_equal(t->public_host, "turn.example.org"); /* kept */
	w2_config_destroy(c);
}

/* Defaults follow the signaling listener; TLS adds 5349. */
static void test_turn_resolve(void **state)
{
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;
	const struct w2_turn_settings *t;

	assert_int_equal(w2_config_default(&c), 0);
	t = &c->turn;
	assert_true(c->signaling_enabled);
	assert_true(t->enabled);
	assert_int_equal(t->n_listen, 0);
	assert_int_equal(w2_config_resolve_turn(c, err), 0);
	assert_int_equal(t->n_listen, 1);
	assert_string_equal(t->listen[0].host, "127.0.0.1");
	assert_int_equal(t->listen[0].port, 3478);
	assert_string_equal(t->relay_ip, "127.0.0.1");
	assert_string_equal(t->public_host, "127.0.0.1");
	assert_string_equal(t->realm, "localhost");
	assert_int_equal(t->min_port, 49152);
	assert_int_equal(t->max_port, 65535);
	assert_int_equal(t->n_allowed_peers, 0); /* loopback peers refused by default */
	w2_config_destroy(c);

	c = parse_ok("domain: example.org\nlisten: [{address: \"localhost:8443\", tls: true}]\n"
	             "turn: {external_ip: 198.51.100.7}\n");
	assert_int_equal(w2_config_resolve_turn(c, err), 0);
	t = &c->turn;
	assert_int_equal(t->n_listen, 2);
	assert_string_equal(t->listen[0].host, "127.0.0.1");
	assert_false(t->listen[0].tls);
	assert_int_equal(t->listen[1].port, 5349);
	assert_true(t->listen[1].tls);
	assert_string_equal(t->public_host, "198.51.100.7");
	assert_string_equal(t->realm, "example.org");
	w2_config_destroy(c);

	/* A wildcard listener cannot tell clients which address relays. */
	c = parse_ok("turn: {listen: [{address: \"0.0.0.0:3478\"}]}\n");
	assert_int_equal(w2_config_resolve_turn(c, err), W2_ECONFIG);
	assert_string_equal(err, "turn.relay_ip: needed when TURN listens on a wildcard address");
	w2_config_destroy(c);
}

static const struct bad k_bad_turn[] = {
    {"roles: [signaling, video]\n",
     "line 1: roles[1]: unknown role \"video\" (use signaling or turn)"},
    {"roles: []\n", "line 1: roles: needs at least one role (signaling, turn)"},
    {"turn: {allowed_peer_ranges: [10.0.0.1/8]}\n",
     "line 1: turn.allowed_peer_ranges[0]: \"10.0.0.1/8\" is not an address range like "
     "10.0.0.0/8 or fd00::/8 (host bits must be zero)"},
    {"turn:\n  denied_peer_ranges: [everything]\n",
     "line 2: turn.denied_peer_ranges[0]: \"everything\" is not an address range like "
     "10.0.0.0/8 or fd00::/8 (host bits must be zero)"},
    {"turn: {users: [{name: a}]}\n",
     "line 1: turn.users[0]: a user needs \"name\" and \"password\""},
    {"turn: {users: [{name: \"1:a\", password: p}]}\n",
     "line 1: turn.users[0]: a user name must not contain ':' (it would read as a "
     "time-limited REST credential)"},
    {"turn: {min_port: 0}\n", "line 1: turn.min_port: expected a positive integer, got \"0\""},
    {"turn: {max_port: 70000}\n", "line 1: turn.max_port: \"70000\" is out of range (at most "
     "65535)"},
    {"turn: {secret: \"\"}\n", "line 1: turn.secret: expected the secret as a non-empty string"},
    {"turn: {secret_file: nope.secret}\n", NULL},
    {"turn: {listen: [{tls: true}]}\n", "line 1: turn.listen[0]: missing key \"address\""},
    {"turn: {relay_ips: 1.2.3.4}\n", NULL},
};

static void test_bad_turn(void **state)
{
	for (size_t i = 0; i < sizeof(k_bad_turn) / sizeof(k_bad_turn[0]); i++) {
		char err[W2_CONFIG_ERR_MAX] = "";
		struct w2_config *c = NULL;
		const char *y = k_bad_turn[i].yaml;

		print_message("case %zu: %s\n", i, y);
		if (k_bad_turn[i].err) {
			parse_fails(y, k_bad_turn[i].err);
			continue;
		}
		/* Only the start of these sentences is stable (errno text, suggestions). */
		assert_int_equal(w2_config_parse(y, strlen(y), g_dir, &c, err), W2_ECONFIG);
		assert_non_null(strstr(err, "line 1: turn"));
	}
}

static void test_turn_validate(void **state)
{
	struct w2_config *c = NULL;
	char err[W2_CONFIG_ERR_MAX];

	c = parse_ok("turn: {min_port: 5000, max_port: 4000}\n");
	validate_fails(c, "turn.min_port (5000) must be 1..turn.max_port (4000)");
	w2_config_destroy(c);
	c = parse_ok("turn: {secret: short}\n");
	validate_fails(c, "turn.secret: needs at least 16 bytes");
	w2_config_destroy(c);
	c = parse_ok("turn: {max_lifetime: 60}\n");
	validate_fails(c, "turn.max_lifetime: at least 600 seconds (the default allocation "
	                  "lifetime, RFC 8656 section 3.2)");
	w2_config_destroy(c);
	c = parse_ok("turn: {max_allocations: 2, max_allocations_per_user: 3}\n");
	validate_fails(c, "turn.max_allocations_per_user must not exceed turn.max_allocations");
	w2_config_destroy(c);
	c = parse_ok("turn: {relay_ip: \"0.0.0.0\"}\n");
	validate_fails(c, "turn.relay_ip: must be one numeric IPv4 or IPv6 address (not a "
	                  "wildcard): relayed addresses are sent to clients");
	w2_config_destroy(c);
	c = parse_ok("turn: {listen: [{address: \"localhost:3478\"}], relay_ip: 127.0.0.1}\n");
	assert_int_equal(w2_config_resolve_turn(c, err), 0);
	assert_string_equal(c->turn.listen[0].host, "127.0.0.1");
	assert_int_equal(w2_config_validate(c, err), 0);
	w2_config_destroy(c);
}

static void test_turn_env(void **state)
{
	char *env[] = {
	    "WEBRTC2_ROLES=turn",
	    "WEBRTC2_TURN_LISTEN=127.0.0.1:13478, 127.0.0.1:15349/tls",
	    "WEBRTC2_TURN_RELAY_IP=127.0.0.2",
	    "WEBRTC2_TURN_PUBLIC_HOST=relay.example.org",
	    "WEBRTC2_TURN_SECRET=0123456789abcdef",
	    "WEBRTC2_TURN_ALLOWED_PEER_RANGES=127.0.0.0/8, ::1/128",
	    "WEBRTC2_TURN_DENIED_PEER_RANGES=",
	    NULL,
	};
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *c = NULL;

	assert_int_equal(w2_config_default(&c), 0);
	assert_int_equal(w2_config_apply_env(c, env, err), 0);
	assert_false(c->signaling_enabled);
	assert_true(c->turn.enabled);
	assert_int_equal(c->turn.n_listen, 2);
	assert_int_equal(c->turn.listen[0].port, 13478);
	assert_false(c->turn.listen[0].tls);
	assert_int_equal(c->turn.listen[1].port, 15349);
	assert_true(c->turn.listen[1].tls);
	assert_string_equal(c->turn.relay_ip, "127.0.0.2");
	assert_string_equal(c->turn.public_host, "relay.example.org");
	assert_int_equal(c->turn.secret_len, 16);
	assert_int_equal(c->turn.n_allowed_peers, 2);
	assert_int_equal(c->turn.n_denied_peers, 0);
	assert_int_equal(w2_config_set_roles(c, "signaling,turn", err), 0);
	assert_true(c->signaling_enabled);
	w2_config_destroy(c);
	env_fails("WEBRTC2_ROLES=sfu",
	          "roles: unknown role \"sfu\" (use signaling, turn or both, comma-separated)");
	env_fails("WEBRTC2_ROLES=", "roles: at least one role is needed (signaling, turn)");
	env_fails("WEBRTC2_TURN_ALLOWED_PEER_RANGES=127.0.0.0/8,10.1.2.3/8",
	          "WEBRTC2_TURN_ALLOWED_PEER_RANGES: \"10.1.2.3/8\" is not an address range like "
	          "10.0.0.0/8 (host bits must be zero; at most 256 ranges)");
	env_fails("WEBRTC2_TURN_LISTEN=nope",
	          "WEBRTC2_TURN_LISTEN: \"nope\" is not host:port (IPv6 as [::1]:8443)");
	env_fails("WEBRTC2_TURN_SECRET=", "WEBRTC2_TURN_SECRET: must not be empty");
	env_fails("WEBRTC2_TURN_SECRET=short", "turn.secret: needs at least 16 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_empty_documents),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_odd_but_valid),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_bad_listen),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_bad_other),
	    cmocka_unit_test(test_key_file_unreadable),
	    cmocka_unit_test(test_key_file_too_large),
	    cmocka_unit_test(test_alias_bomb),
	    cmocka_unit_test(test_too_large_text),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_load_too_large),
	    cmocka_unit_test(test_env_overrides),
	    cmocka_unit_test(test_env_errors),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_validate_duplicates_and_keys),
	    cmocka_unit_test(test_guest_file),
	    cmocka_unit_test(test_bad_guest),
	    cmocka_unit_test(test_guest_env),
	    cmocka_unit_test(test_guest_validate),
	    cmocka_unit_test(test_loopback),
	    cmocka_unit_test(test_alloc_failure_parse),
	    cmocka_unit_test(test_alloc_failure_load_env),
	    cmocka_unit_test(test_turn_file),
	    cmocka_unit_test(test_turn_resolve),
	    cmocka_unit_test(test_bad_turn),
	    cmocka_unit_test(test_turn_validate),
	    cmocka_unit_test(test_turn_env),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
