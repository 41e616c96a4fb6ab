/* webrtc2d: the daemon's entry point.
 *
 *   webrtc2d [--config FILE] [--roles signaling,turn]
 *                                     run (embedded default without a file)
 *   webrtc2d check-config FILE        validate a config file
 *   webrtc2d token --user NAME [--ttl SECONDS] [--config FILE]
 *
 * One libuv loop runs the transport and the signaling engine; the TURN role
 * runs on a thread of its own (src/turn/turn_io.h). SIGTERM and
 * SIGINT drain (close every session with 1001, then exit); SIGHUP reloads
 * the config file (docs/operations.md lists what a reload changes). */
#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "transport/selfsigned.h"
#include "signal/auth.h"
#include "signal/signal.h"
#include "store/store.h"
#include "transport/transport.h"
#include "turn/turn_io.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#define MOD "daemon"
#define LOCAL_KEY_NAME "jwt-hs256-local"
#define LOCAL_KEY_LEN 32
#define TURN_SECRET_NAME "turn-rest-secret"
#define TURN_SECRET_LEN 32
#define VERSION "0.1.0"

extern char **environ;

struct daemon {
	uv_loop_t loop;
	const char *config_path;
	const char *roles; /* --roles, or NULL */
	struct w2_config *cfg;
	struct w2_config *turn_cfg; /* the config the TURN thread borrows (not reloaded) */
	struct w2_turn_server *turn;
	struct w2_auth *auth;
	struct w2_metrics metrics;
	struct w2_signal *engine;
	struct w2_server *srv;
	uv_signal_t sig_term, sig_int, sig_hup;
	bool draining;
};

/* ---- configuration ------------------------------------------------------ */

static bool has_tls_listener(const struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (cfg->listen[i].tls)
			return true;
	for (size_t i = 0; cfg->turn.enabled && i < cfg->turn.n_listen; i++)
		if (cfg->turn.listen[i].tls)
			return true;
	return false;
}

/* Reads the secret `name` of the state dir, creating it on first use;
 * `what` names it in the error sentence. */
static int state_secret(const struct w2_config *cfg, const char *name, const char *what,
			unsigned char *secret, size_t len, char *err)
{
	struct w2_store *st;
	int rc = w2_store_open(&st, cfg->state_dir, err);

	if (rc != 0)
		return rc;
	rc = w2_store_secret(st, name, secret, len);
	w2_store_close(st);
	if (rc != 0)
		snprintf(err, W2_CONFIG_ERR_MAX, "cannot read or create the %s in %s", what,
			 cfg->state_dir);
	return rc;
}

/* Adds the generated HS256 key of the state dir when no key is configured:
 * that is what lets the embedded default sign users in at once. */
static int add_local_key(struct w2_config *cfg, char *err)
{
	unsigned char secret[LOCAL_KEY_LEN];
	struct w2_auth_key key = {.alg = W2_JWT_HS256, .material = secret,
				  .material_len = sizeof(secret)};
	int rc;

	if (cfg->n_keys > 0)
		return 0;
	rc = state_secret(cfg, LOCAL_KEY_NAME, "signing secret", secret, sizeof(secret), err);
	if (rc == 0)
		rc = w2_config_add_key(cfg, &key);
	sodium_memzero(secret, sizeof(secret));
	return rc;
}

/* The TURN REST secret, shared by the relay (which checks credentials) and
 * signaling (which mints them): generated once in the state dir unless the
 * config gives one (a relay on another machine must be given the same). */
static int add_turn_secret(struct w2_config *cfg, char *err)
{
	unsigned char secret[TURN_SECRET_LEN];
	char hex[2 * TURN_SECRET_LEN + 1];
	int rc;

	if (cfg->turn.secret || !cfg->turn.enabled)
		return 0;
	rc = state_secret(cfg, TURN_SECRET_NAME, "TURN secret", secret, sizeof(secret), err);
	if (rc != 0)
		return rc;
	/* Printable, so that the same value can be put in another server's
	 * turn.secret (or coturn's static-auth-secret). */
	sodium_bin2hex(hex, sizeof(hex), secret, sizeof(secret));
	sodium_memzero(secret, sizeof(secret));
	cfg->turn.secret = (unsigned char *)w2_strdup(hex);
	cfg->turn.secret_len = cfg->turn.secret ? strlen(hex) : 0;
	sodium_memzero(hex, sizeof(hex));
	return cfg->turn.secret ? 0 : W2_ENOMEM;
}

/* Loads (or takes the embedded default), applies the environment and
 * --roles, adds the local key, the TURN secret and the self-signed
 * certificate if needed, and validates. */
static int prepare_config(const char *path, const char *roles, struct w2_config **out,
			  char *err)
{
	struct w2_config *cfg = NULL;
	int rc;

	rc = path ? w2_config_load(path, &cfg, err) : w2_config_default(&cfg);
	if (rc != 0)
		return rc;
	rc = w2_config_apply_env(cfg, environ, err);
	if (rc == 0 && roles)
		rc = w2_config_set_roles(cfg, roles, err);
	if (rc == 0)
		rc = w2_config_resolve_turn(cfg, err);
	if (rc == 0)
		rc = add_local_key(cfg, err);
	if (rc == 0)
		rc = add_turn_secret(cfg, err);
	if (rc == 0 && has_tls_listener(cfg) && !cfg->tls_cert_file)
		rc = w2_selfsigned_ensure(cfg, err);
	if (rc == 0)
		rc = w2_config_validate(cfg, err);
	if (rc != 0) {
		w2_config_destroy(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* Guest sign-in hands a token to whoever asks for a free name. On the
 * embedded default only this machine can ask; on any other address anyone
 * who reaches the server can, which is rarely what was meant. */
static void warn_guest_exposure(const struct w2_config *cfg)
{
	if (!cfg->guest_tokens)
		return;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (w2_host_is_loopback(cfg->listen[i].host))
			continue;
		W2_LOG_WARN(MOD, "WARNING: auth.guest_tokens is on and a listener is not on "
			    "loopback: anyone who can reach this server can sign in under any "
			    "name nobody is using (set auth.guest_tokens: false unless that is "
			    "intended)");
		return;
	}
}

/* ---- signals ------------------------------------------------------------ */

static void on_drained(void *arg)
{
	struct daemon *d = arg;

	W2_LOG_INFO(MOD, "drained; stopping");
	w2_turn_server_stop(d->turn);
	if (d->srv)
		w2_server_stop(d->srv);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
}

static void on_term(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (d->draining) {
		W2_LOG_WARN(MOD, "second stop signal: closing at once");
		on_drained(d);
		return;
	}
	d->draining = true;
	W2_LOG_INFO(MOD, "stop signal: draining %llu sessions",
		    (unsigned long long)d->metrics.sessions);
	w2_server_drain(d->srv, on_drained, d);
}

static bool same_listeners(const struct w2_config *a, const struct w2_config *b)
{
	if (a->n_listen != b->n_listen || strcmp(a->domain, b->domain) != 0)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
		    a->listen[i].port != b->listen[i].port || a->listen[i].tls != b->listen[i].tls)
			return false;
	return true;
}

static void on_hup(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg;
	struct w2_auth *auth;

	if (prepare_config(d->config_path, d->roles, &cfg, err) != 0) {
		W2_LOG_ERROR(MOD, "reload refused, keeping the running config: %s", err);
		return;
	}
	if (!same_listeners(d->cfg, cfg)) {
		W2_LOG_ERROR(MOD, "reload refused: listen addresses and domain need a restart");
		w2_config_destroy(cfg);
		return;
	}
	if (w2_auth_create(&auth, cfg) != 0 || w2_server_reconfigure(d->srv, cfg, err) != 0) {
		W2_LOG_ERROR(MOD, "reload refused: %s", err[0] ? err : "bad auth keys");
		w2_auth_destroy(auth);
		w2_config_destroy(cfg);
		return;
	}
	w2_signal_reconfigure(d->engine, cfg, auth);
	w2_auth_destroy(d->auth);
	if (d->cfg != d->turn_cfg)
		w2_config_destroy(d->cfg);
	d->auth = auth;
	d->cfg = cfg;
	w2_log_set_level(cfg->log_level);
	W2_LOG_INFO(MOD, "config reloaded; guest sign-in %s", cfg->guest_tokens ? "on" : "off");
	warn_guest_exposure(cfg);
}

/* ---- run ---------------------------------------------------------------- */

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void start_signals(struct daemon *d)
{
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_term, SIGTERM);
	uv_signal_start(&d->sig_int, on_term, SIGINT);
	uv_signal_start(&d->sig_hup, on_hup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
}

static void announce(const struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		W2_LOG_INFO(MOD, "listening on %s://%s:%u (%s)",
			    cfg->listen[i].tls ? "https" : "http", cfg->listen[i].host,
			    cfg->listen[i].port,
			    cfg->signaling_enabled ? "signaling at /signal" : "/healthz and /metrics only");
	for (size_t i = 0; cfg->turn.enabled && i < cfg->turn.n_listen; i++)
		W2_LOG_INFO(MOD, "TURN on %s:%u (%s)", cfg->turn.listen[i].host,
			    cfg->turn.listen[i].port, cfg->turn.listen[i].tls ? "TLS" : "UDP and TCP");
	W2_LOG_INFO(MOD, "domain=%s state_dir=%s; get a token with: webrtc2d token --user NAME",
		    cfg->domain, cfg->state_dir);
	if (!cfg->signaling_enabled)
		return;
	W2_LOG_INFO(MOD, "guest sign-in (POST /auth/guest) %s",
		    cfg->guest_tokens ? "on" : "off");
	warn_guest_exposure(cfg);
}

/* The TURN role first: its sockets are opened on this thread, so that a
 * port in use stops the start before anything is served. */
static int start_turn(struct daemon *d, char *err)
{
	int rc;

	if (!d->cfg->turn.enabled)
		return 0;
	rc = w2_turn_server_create(&d->turn, d->cfg, err);
	if (rc == 0 && (rc = w2_turn_server_start(d->turn)) != 0)
		snprintf(err, W2_CONFIG_ERR_MAX, "turn: cannot start its thread");
	if (rc == 0) {
		d->turn_cfg = d->cfg;
		d->metrics.render_extra = w2_turn_server_render_metrics;
		d->metrics.render_extra_arg = d->turn;
	}
	return rc;
}

/* The HTTP listeners run in every mode: a relay-only daemon still answers
 * /healthz and /metrics there (the transport refuses everything else). */
static int start_http(struct daemon *d, char *err)
{
	int rc;

	rc = w2_auth_create(&d->auth, d->cfg);
	if (rc == 0)
		rc = w2_signal_create(&d->engine, d->cfg, d->auth, &d->metrics);
	if (rc == 0)
		rc = w2_server_create(&d->srv, &d->loop, d->cfg, d->engine, &d->metrics);
	if (rc == 0)
		rc = w2_server_start(d->srv, err);
	return rc;
}

static int run(const char *config_path, const char *roles)
{
	struct daemon d;
	char err[W2_CONFIG_ERR_MAX] = "";
	int rc;

	memset(&d, 0, sizeof(d));
	d.config_path = config_path;
	d.roles = roles;
	rc = prepare_config(config_path, roles, &d.cfg, err);
	if (rc != 0) {
		fprintf(stderr, "webrtc2d: %s\n", err[0] ? err : w2_strerror(rc));
		return 1;
	}
	w2_log_set_level(d.cfg->log_level);
	raise_fd_limit();
	uv_loop_init(&d.loop);
	rc = start_turn(&d, err);
	if (rc == 0)
		rc = start_http(&d, err);
	if (rc == 0) {
		start_signals(&d);
		announce(d.cfg);
		uv_run(&d.loop, UV_RUN_DEFAULT);
	} else {
		fprintf(stderr, "webrtc2d: %s\n", err[0] ? err : w2_strerror(rc));
		if (d.srv)
			w2_server_stop(d.srv);
		uv_run(&d.loop, UV_RUN_DEFAULT);
	}
	w2_turn_server_destroy(d.turn);
	w2_server_destroy(d.srv);
	w2_signal_destroy(d.engine);
	w2_auth_destroy(d.auth);
	if (d.turn_cfg != d.cfg)
		w2_config_destroy(d.turn_cfg);
	w2_config_destroy(d.cfg);
	uv_loop_close(&d.loop);
	return rc == 0 ? 0 : 1;
}

/* ---- subcommands -------------------------------------------------------- */

static int cmd_check_config(const char *path)
{
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg;
	int rc = w2_config_load(path, &cfg, err);

	if (rc == 0)
		rc = w2_config_validate(cfg, err);
	if (rc == 0)
		w2_config_destroy(cfg);
	if (rc != 0) {
		fprintf(stderr, "%s: %s\n", path, err[0] ? err : w2_strerror(rc));
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int cmd_token(const char *config_path, const char *user, long ttl)
{
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg;
	char *token = NULL;
	int rc;

	if (!user || !w2_user_name_valid(user, strlen(user))) {
		fprintf(stderr, "webrtc2d token: --user NAME is required (1-64 of A-Z a-z 0-9 . _ -)\n");
		return 2;
	}
	if (ttl <= 0 || ttl > 366L * 86400) {
		fprintf(stderr, "webrtc2d token: --ttl must be 1..31622400 seconds\n");
		return 2;
	}
	if (prepare_config(config_path, NULL, &cfg, err) != 0) {
		fprintf(stderr, "webrtc2d token: %s\n", err);
		return 1;
	}
	rc = w2_auth_mint_local(cfg, user, (int64_t)time(NULL), ttl, &token);
	w2_config_destroy(cfg);
	if (rc != 0) {
		fprintf(stderr, "webrtc2d token: %s\n",
			rc == W2_ENOENT ? "no HS256 key is configured; tokens come from your "
					  "identity provider" : w2_strerror(rc));
		return 1;
	}
	printf("%s\n", token);
	w2_free(token);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: webrtc2d [--config FILE] [--roles signaling,turn]\n"
		   "       webrtc2d check-config FILE\n"
		   "       webrtc2d token --user NAME [--ttl SECONDS] [--config FILE]\n"
		   "       webrtc2d --version\n"
		   "Without --config the embedded default runs: http://127.0.0.1:8080, domain\n"
		   "localhost, state in ./var, TURN on 127.0.0.1:3478. --roles turn runs only\n"
		   "the relay. WEBRTC2_* variables override the config\n"
		   "(docs/operations.md).\n");
}

int main(int argc, char **argv)
{
	const char *config = getenv("WEBRTC2_CONFIG");
	const char *user = NULL;
	const char *roles = NULL;
	const char *cmd = NULL;
	const char *file = NULL;
	long ttl = 86400;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && next) {
			config = next;
			i++;
		} else if (strcmp(a, "--roles") == 0 && next) {
			roles = next;
			i++;
		} else if (strcmp(a, "--user") == 0 && next) {
			user = next;
			i++;
		} else if (strcmp(a, "--ttl") == 0 && next) {
			char *end;

			ttl = strtol(next, &end, 10);
			if (*end)
				ttl = -1;
			i++;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("webrtc2d %s\n", VERSION);
			return 0;
		} else if (!cmd && (strcmp(a, "check-config") == 0 || strcmp(a, "token") == 0)) {
			cmd = a;
		} else if (cmd && strcmp(cmd, "check-config") == 0 && !file) {
			file = a;
		} else {
			fprintf(stderr, "webrtc2d: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (cmd && strcmp(cmd, "check-config") == 0) {
		if (!file && !config) {
			usage(stderr);
			return 2;
		}
		return cmd_check_config(file ? file : config);
	}
	if (cmd && strcmp(cmd, "token") == 0)
		return cmd_token(config, user, ttl);
	return run(config, roles);
}
