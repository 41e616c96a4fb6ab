/* Fuzz target: the transport's plain input path, HTTP request -> WebSocket
 * upgrade -> frames -> protocol engine, on a real libuv loop
 * (transport_harness.h). */
#include "transport_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return harness_one_input(data, size, false);
}
