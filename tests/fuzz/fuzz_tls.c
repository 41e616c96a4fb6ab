/* Fuzz target: the TLS input path, bytes from the socket into OpenSSL through
 * our BIO (src/transport/tls.c): handshakes that fail part-way, alerts,
 * records split across reads (transport_harness.h). */
#include "transport_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return harness_one_input(data, size, true);
}
