/* A self-signed certificate for a daemon that must speak TLS but was given
 * no certificate (any non-loopback listener). Browsers will warn: it exists
 * so that a first start works, never as a production setting. */
#ifndef W2_TRANSPORT_SELFSIGNED_H
#define W2_TRANSPORT_SELFSIGNED_H

#include "core/config.h"

/* Makes sure state_dir/tls/{cert,key}.pem exist (an ECDSA P-256 key and a
 * one-year certificate whose SAN lists the listen hosts and the domain), and
 * points cfg->tls_cert_file/tls_key_file at them. err: 256 bytes. */
int w2_selfsigned_ensure(struct w2_config *cfg, char *err);

#endif
