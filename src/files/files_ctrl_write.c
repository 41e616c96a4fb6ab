/* File transfer v1: control messages out ("Control messages" of
 * docs/file-transfer.md). What is written is parsed back before it is
 * handed out, so this side never sends a message its own parser (and, by
 * the shared vectors, the browser's) would refuse. */
#include "files/files.h"
#include "files/files_int.h"

#include "core/error.h"
#include "core/utf8.h"

#include <jansson.h>
#include <sodium.h>

#include <stdio.h>
#include <string.h>

static int fail(char *detail, int err, const char *sentence)
{
	if (detail)
		snprintf(detail, W2_FILE_DETAIL_MAX, "%s", sentence);
	return err;
}

static int set_pk(json_t *obj, const uint8_t pk[W2_FILE_PK_LEN])
{
	char b64[sodium_base64_ENCODED_LEN(W2_FILE_PK_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	sodium_bin2base64(b64, sizeof(b64), pk, W2_FILE_PK_LEN,
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return json_object_set_new(obj, "pk", json_string(b64));
}

static int set_hex(json_t *obj, const char *key, const uint8_t *bytes, size_t n)
{
	char hex[2 * W2_FILE_SHA256_LEN + 1];

	w2__file_hex(bytes, n, hex);
	return json_object_set_new(obj, key, json_string(hex));
}

static int set_ranges(json_t *obj, const char *key, const struct w2_file_ranges *r)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -1;

	for (size_t i = 0; i < r->count && rc == 0; i++)
		rc = json_array_append_new(arr, json_pack("[II]", (json_int_t)r->v[i].start,
							  (json_int_t)r->v[i].end));
	rc |= json_object_set_new(obj, key, arr);
	return rc;
}

static int set_offer(json_t *obj, const struct w2_file_ctrl *m)
{
	int rc = json_object_set_new(obj, "v", json_integer(W2_FILE_VERSION));

	/* "id" goes first with the other manifest fields; set_id skipped it. */
	rc |= w2__file_manifest_to_json(&m->manifest, obj);
	rc |= set_pk(obj, m->pk);
	if (m->mime[0])
		rc |= json_object_set_new(obj, "mime", json_string(m->mime));
	if (m->lanes)
		rc |= json_object_set_new(obj, "lanes", json_integer(m->lanes));
	return rc;
}

/* The fields of m's type, after "t" and "id". */
static int set_fields(json_t *obj, const struct w2_file_ctrl *m)
{
	const char *code = m->code_str[0] ? m->code_str : w2_file_code_name(m->code);

	switch (m->type) {
	case W2_FILE_CTRL_OFFER:
		return set_offer(obj, m);
	case W2_FILE_CTRL_ACCEPT:
		return set_pk(obj, m->pk) | set_ranges(obj, "have", &m->ranges);
	case W2_FILE_CTRL_NACK:
		return set_ranges(obj, "ranges", &m->ranges);
	case W2_FILE_CTRL_DONE:
	case W2_FILE_CTRL_COMPLETE:
		return set_hex(obj, "sha256", m->sha256, W2_FILE_SHA256_LEN);
	case W2_FILE_CTRL_REJECT:
	case W2_FILE_CTRL_CANCEL:
		return m->has_text ? json_object_set_new(obj, "reason", json_string(m->text)) : 0;
	case W2_FILE_CTRL_ERROR:
		return json_object_set_new(obj, "code", json_string(code ? code : "internal")) |
		       json_object_set_new(obj, "message", json_string(m->text));
	default:
		return 0;
	}
}

/* What jansson cannot represent is refused here with a sentence; the rest
 * is checked by parsing the result back. */
static int precheck(const struct w2_file_ctrl *m, char *detail)
{
	size_t text_len = strnlen(m->text, sizeof(m->text));

	if (!w2_file_ctrl_type_name(m->type))
		return fail(detail, W2_EINVAL, "message type is unknown");
	if (m->type == W2_FILE_CTRL_OFFER)
		return w2_file_manifest_validate(&m->manifest, detail);
	if (text_len == sizeof(m->text) || !w2_utf8_valid((const unsigned char *)m->text, text_len))
		return fail(detail, W2_EINVAL, "reason or message is not valid UTF-8 text");
	return 0;
}

static json_t *build(const struct w2_file_ctrl *m)
{
	json_t *obj = json_object();
	const uint8_t *id = m->type == W2_FILE_CTRL_OFFER ? m->manifest.id : m->id;
	int rc;

	if (!obj)
		return NULL;
	rc = json_object_set_new(obj, "t", json_string(w2_file_ctrl_type_name(m->type)));
	if (m->type != W2_FILE_CTRL_OFFER && (m->has_id || m->type != W2_FILE_CTRL_ERROR))
		rc |= set_hex(obj, "id", id, W2_FILE_ID_LEN);
	rc |= set_fields(obj, m);
	if (rc != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

int w2_file_ctrl_serialize(const struct w2_file_ctrl *m, char *out, size_t cap, size_t *len,
			   char *detail)
{
	struct w2_file_ctrl back;
	json_t *obj;
	size_t n;
	int rc = precheck(m, detail);

	if (rc != 0)
		return rc;
	obj = build(m);
	if (!obj)
		return fail(detail, W2_ENOMEM, "out of memory writing a control message");
	n = json_dumpb(obj, out, cap, JSON_COMPACT);
	json_decref(obj);
	if (n == 0)
		return fail(detail, W2_ENOMEM, "out of memory writing a control message");
	if (n >= cap || n > W2_FILE_CONTROL_MAX)
		return fail(detail, W2_ELIMIT, "control message does not fit");
	out[n] = '\0';
	rc = w2_file_ctrl_parse(out, n, &back, detail);
	w2_file_ctrl_deinit(&back);
	if (rc != 0)
		return rc == W2_ENOMEM ? rc : W2_EINVAL;
	*len = n;
	return 0;
}
