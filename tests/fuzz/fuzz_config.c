/* Fuzz target for src/core/config.c.
 *
 * Every input is used twice:
 *   1. as a YAML config, parsed with base_dir pointing at an empty temporary
 *      directory (so relative key files fail to read, cleanly), then
 *      validated and destroyed;
 *   2. as an environment: each line holding '=' becomes "WEBRTC2_<line>",
 *      applied to the defaults with w2_config_apply_env().
 * The checks are the module's contract: a result or an error sentence,
 * never both, never neither, and the sentence fits its buffer. */
#include "core/config.h"
#include "core/error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_ENV_MAX 32
#define FUZZ_LINE_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_empty_dir[64];

static void remove_empty_dir(void)
{
	rmdir(g_empty_dir);
}

static const char *empty_dir(void)
{
	if (!g_empty_dir[0]) {
		snprintf(g_empty_dir, sizeof(g_empty_dir), "/tmp/w2-fuzz-config-XXXXXX");
		if (!mkdtemp(g_empty_dir))
			abort();
		atexit(remove_empty_dir);
	}
	return g_empty_dir;
}

static void check_outcome(int rc, const struct w2_config *cfg, const char *err)
{
	if (strlen(err) >= W2_CONFIG_ERR_MAX)
		abort();
	if (rc == 0 && (!cfg || err[0]))
		abort();
	if (rc != 0 && (cfg || !err[0] || (rc != W2_ECONFIG && rc != W2_ENOMEM)))
		abort();
}

static void fuzz_yaml(const uint8_t *data, size_t size)
{
	char err[W2_CONFIG_ERR_MAX];
	struct w2_config *cfg = NULL;
	int rc;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = w2_config_parse((const char *)data, size, empty_dir(), &cfg, err);
	check_outcome(rc, cfg, err);
	if (rc == 0) {
		rc = w2_config_validate(cfg, err);
		if (rc != 0 && (rc != W2_ECONFIG || !err[0]))
			abort();
		for (size_t i = 0; i < cfg->n_listen; i++)
			if (!cfg->listen[i].tls && !w2_host_is_loopback(cfg->listen[i].host))
				abort();
	}
	w2_config_destroy(cfg);
}

static void fuzz_env(const uint8_t *data, size_t size)
{
	static char lines[FUZZ_ENV_MAX][FUZZ_LINE_MAX];
	char *envp[FUZZ_ENV_MAX + 1];
	char err[W2_CONFIG_ERR_MAX] = "";
	struct w2_config *cfg = NULL;
	size_t n = 0, start = 0;
	int rc;

	for (size_t i = 0; i <= size && n < FUZZ_ENV_MAX; i++) {
		size_t len = i - start;

		if (i < size && data[i] != '\n')
			continue;
		if (len < FUZZ_LINE_MAX - 9 && memchr(data + start, '=', len) &&
		    !memchr(data + start, '\0', len)) {
			snprintf(lines[n], FUZZ_LINE_MAX, "WEBRTC2_%.*s", (int)len,
			         (const char *)data + start);
			envp[n] = lines[n];
			n++;
		}
		start = i + 1;
	}
	if (n == 0)
		return;
	envp[n] = NULL;
	if (w2_config_default(&cfg) != 0)
		abort();
	rc = w2_config_apply_env(cfg, envp, err);
	if ((rc != 0 && !err[0]) || (rc == 0 && err[0]))
		abort();
	w2_config_destroy(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_yaml(data, size);
	fuzz_env(data, size);
	return 0;
}
