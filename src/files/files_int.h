/* Internal to src/files and its test tools: the offer's manifest fields as
 * JSON, shared by the control-message codec and tests/tools/w2_filecrypt. */
#ifndef W2_FILES_FILES_INT_H
#define W2_FILES_FILES_INT_H

#include "files/files.h"

#include <jansson.h>

/* Reads the manifest fields of an offer from obj (borrowed): id, name,
 * size, chunkSize, enc, optional sha256 and path, then validates the
 * manifest. W2_EINVAL with detail naming the field. */
int w2__file_manifest_from_json(const json_t *obj, struct w2_file_manifest *m, char *detail);

/* Adds the manifest fields of m to obj (borrowed), in the order of the
 * doc's table. W2_ENOMEM if jansson fails. */
int w2__file_manifest_to_json(const struct w2_file_manifest *m, json_t *obj);

/* Lowercase hex of n bytes into out (2n + 1 bytes with the NUL). */
void w2__file_hex(const uint8_t *bytes, size_t n, char *out);

/* Exactly 2n lowercase hex digits in s into out; W2_EINVAL otherwise. */
int w2__file_unhex(const char *s, uint8_t *out, size_t n);

#endif
