#include "transport/selfsigned.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "DNS:a,IP:1.2.3.4,..." for the domain and every listen host. */
static void build_san(const struct w2_config *cfg, char *out, size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "DNS:%s,DNS:localhost,IP:127.0.0.1", cfg->domain);

	for (size_t i = 0; i < cfg->n_listen && n < cap; i++) {
		const char *h = cfg->listen[i].host;
		unsigned char a[16];
		bool ip = inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;

		if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
			continue;
		n += (size_t)snprintf(out + n, cap - n, ",%s:%s", ip ? "IP" : "DNS", h);
	}
}

static int add_san(X509 *x, const char *san)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	if (!ext)
		return -1;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

static int write_pem(const char *path, EVP_PKEY *key, X509 *x)
{
	FILE *f;
	int ok;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_X509(f, x);
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int generate(const struct w2_config *cfg, const char *cert, const char *key)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	char san[1024];
	int rc = -1;

	if (!pkey || !x)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cfg->domain,
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	build_san(cfg, san, sizeof(san));
	if (add_san(x, san) != 0 || X509_sign(x, pkey, EVP_sha256()) == 0)
		goto out;
	if (write_pem(key, pkey, NULL) != 0 || write_pem(cert, NULL, x) != 0)
		goto out;
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

int w2_selfsigned_ensure(struct w2_config *cfg, char *err)
{
	char dir[4096], cert[4200], key[4200];

	snprintf(dir, sizeof(dir), "%s/tls", cfg->state_dir);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, 256, "cannot create %s: %s", dir, strerror(errno));
		return W2_EIO;
	}
	if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
		if (generate(cfg, cert, key) != 0) {
			snprintf(err, 256, "cannot generate a self-signed certificate in %s", dir);
			return W2_ETLS;
		}
	}
	W2_LOG_WARN("tls", "TLS uses a SELF-SIGNED certificate (%s): browsers will warn and "
			      "clients cannot verify this server. Configure tls.cert_file and "
			      "tls.key_file for production.", cert);
	w2_free(cfg->tls_cert_file);
	w2_free(cfg->tls_key_file);
	cfg->tls_cert_file = w2_strdup(cert);
	cfg->tls_key_file = w2_strdup(key);
	return cfg->tls_cert_file && cfg->tls_key_file ? 0 : W2_ENOMEM;
}
