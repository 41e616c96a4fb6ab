/* File transfer v1: control messages ("Control messages" of
 * docs/file-transfer.md). JSON through jansson: the messages are small and
 * rare, and every field is checked after decoding, so a hand-written
 * tokenizer would buy nothing here. */
#include "files/files.h"
#include "files/files_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/utf8.h"

#include <jansson.h>
#include <sodium.h>

#include <stdio.h>
#include <string.h>

#define ENC_CHACHA "chacha20-poly1305"
#define ENC_NONE "none"
/* 32 bytes in base64url without padding: ceil(32 * 4 / 3) characters. */
#define PK_B64_LEN 43

static int fail(char *detail, int err, const char *fmt, const char *field)
{
	if (detail)
		snprintf(detail, W2_FILE_DETAIL_MAX, fmt, field);
	return err;
}

/* ---- hex and base64url ---- */

void w2__file_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Lowercase only: the doc writes ids as "32 lowercase hex digits", and one
 * spelling per value keeps ids comparable as strings on both sides. */
int w2__file_unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return W2_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return W2_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int unb64url(const char *s, uint8_t *out, size_t n)
{
	size_t len = strlen(s), bin_len = 0;
	const char *end = NULL;

	/* sodium_base642bin also refuses non-zero trailing bits, so a key has
	 * exactly one spelling. */
	if (len != PK_B64_LEN ||
	    sodium_base642bin(out, n, s, len, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    bin_len != n || end != s + len)
		return W2_EINVAL;
	return 0;
}

/* ---- typed field readers: each names the field in its error ---- */

/* A field that is absent or JSON null counts as absent (a JavaScript
 * sender may write `sha256: null` for "unknown"). */
static const json_t *get_opt(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return v && !json_is_null(v) ? v : NULL;
}

static int get_string(const json_t *obj, const char *key, bool required, const char **out,
		      char *detail)
{
	const json_t *v = get_opt(obj, key);

	*out = NULL;
	if (!v)
		return required ? fail(detail, W2_EINVAL, "%s is missing", key) : 0;
	if (!json_is_string(v))
		return fail(detail, W2_EINVAL, "%s is not a string", key);
	*out = json_string_value(v);
	return 0;
}

static int get_uint(const json_t *obj, const char *key, uint64_t min, uint64_t max, uint64_t *out,
		    char *detail)
{
	const json_t *v = get_opt(obj, key);
	char msg[W2_FILE_DETAIL_MAX];
	json_int_t i;

	if (!v)
		return fail(detail, W2_EINVAL, "%s is missing", key);
	if (!json_is_integer(v))
		return fail(detail, W2_EINVAL, "%s is not an integer", key);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max) {
		snprintf(msg, sizeof(msg), "%%s is outside %llu..%llu", (unsigned long long)min,
			 (unsigned long long)max);
		return fail(detail, W2_EINVAL, msg, key);
	}
	*out = (uint64_t)i;
	return 0;
}

static int get_hex(const json_t *obj, const char *key, bool required, uint8_t *out, size_t n,
		   bool *present, char *detail)
{
	const char *s;
	char msg[W2_FILE_DETAIL_MAX];
	int rc = get_string(obj, key, required, &s, detail);

	if (present)
		*present = s != NULL;
	if (rc != 0 || !s)
		return rc;
	if (w2__file_unhex(s, out, n) != 0) {
		snprintf(msg, sizeof(msg), "%%s is not %zu lowercase hex digits", 2 * n);
		return fail(detail, W2_EINVAL, msg, key);
	}
	return 0;
}

static int get_pk(const json_t *obj, uint8_t pk[W2_FILE_PK_LEN], char *detail)
{
	const char *s;
	int rc = get_string(obj, "pk", true, &s, detail);

	if (rc == 0 && unb64url(s, pk, W2_FILE_PK_LEN) != 0)
		rc = fail(detail, W2_EINVAL, "%s is not 32 bytes of base64url without padding",
			  "pk");
	return rc;
}

/* Copies a string into dst (cap bytes), refusing longer ones. */
static int copy_bounded(const char *s, char *dst, size_t cap, const char *key, char *detail)
{
	size_t len = strlen(s);

	if (len >= cap)
		return fail(detail, W2_EINVAL, "%s is too long", key);
	memcpy(dst, s, len + 1);
	return 0;
}

/* Human text (`reason`, `message`) is kept up to W2_FILE_TEXT_MAX bytes
 * and cut beyond, at a character boundary: refusing a long reason would
 * turn a cancel into an error about the cancel. */
static void copy_text(const char *s, char *dst)
{
	size_t len = strlen(s);

	if (len > W2_FILE_TEXT_MAX) {
		len = W2_FILE_TEXT_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* ---- ranges ---- */

static int range_read(const json_t *pair, uint64_t prev_end, struct w2_file_range *r,
		      const char *key, char *detail)
{
	const json_t *a = json_array_get(pair, 0), *b = json_array_get(pair, 1);

	if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(a) ||
	    !json_is_integer(b))
		return fail(detail, W2_EINVAL, "%s has an entry that is not [start, end]", key);
	if (json_integer_value(a) < 0 || json_integer_value(b) < 0 ||
	    (uint64_t)json_integer_value(b) > W2_FILE_SIZE_MAX)
		return fail(detail, W2_EINVAL, "%s has an index outside 0..2^53 - 1", key);
	r->start = (uint64_t)json_integer_value(a);
	r->end = (uint64_t)json_integer_value(b);
	if (r->start >= r->end)
		return fail(detail, W2_EINVAL, "%s has a range whose start is not below its end",
			    key);
	if (r->start < prev_end)
		return fail(detail, W2_EINVAL, "%s is not sorted or has overlapping ranges", key);
	return 0;
}

static int get_ranges(const json_t *obj, const char *key, struct w2_file_ranges *out, char *detail)
{
	const json_t *arr = get_opt(obj, key);
	size_t n;
	int rc = 0;

	if (!arr)
		return fail(detail, W2_EINVAL, "%s is missing", key);
	if (!json_is_array(arr))
		return fail(detail, W2_EINVAL, "%s is not an array", key);
	n = json_array_size(arr);
	if (n > W2_FILE_RANGES_MAX)
		return fail(detail, W2_EINVAL, "%s has more than 4096 ranges", key);
	if (n == 0)
		return 0;
	out->v = w2_malloc(n * sizeof(*out->v));
	if (!out->v)
		return fail(detail, W2_ENOMEM, "out of memory reading %s", key);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = range_read(json_array_get(arr, i), i ? out->v[i - 1].end : 0, &out->v[i], key,
				detail);
	out->count = rc == 0 ? n : 0;
	if (rc != 0) {
		w2_free(out->v);
		out->v = NULL;
	}
	return rc;
}

int w2_file_ranges_check(const struct w2_file_ranges *r, uint64_t n, char *detail)
{
	/* Sorted, so the last end is the largest. */
	if (r->count > 0 && r->v[r->count - 1].end > n)
		return fail(detail, W2_EINVAL, "%s has a range beyond the last chunk", "ranges");
	return 0;
}

/* ---- the manifest fields of an offer ---- */

static int get_enc(const json_t *obj, enum w2_file_enc *enc, char *detail)
{
	const char *s;
	int rc = get_string(obj, "enc", true, &s, detail);

	if (rc != 0)
		return rc;
	if (strcmp(s, ENC_CHACHA) == 0)
		*enc = W2_FILE_ENC_CHACHA;
	else if (strcmp(s, ENC_NONE) == 0)
		*enc = W2_FILE_ENC_NONE;
	else
		return fail(detail, W2_EINVAL, "%s is neither chacha20-poly1305 nor none", "enc");
	return 0;
}

static int get_names(const json_t *obj, struct w2_file_manifest *m, char *detail)
{
	const char *name, *path;
	int rc = get_string(obj, "name", true, &name, detail);

	if (rc == 0)
		rc = copy_bounded(name, m->name, sizeof(m->name), "name", detail);
	if (rc == 0)
		rc = get_string(obj, "path", false, &path, detail);
	if (rc == 0 && path)
		rc = copy_bounded(path, m->path, sizeof(m->path), "path", detail);
	return rc;
}

int w2__file_manifest_from_json(const json_t *obj, struct w2_file_manifest *m, char *detail)
{
	uint64_t v;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = get_hex(obj, "id", true, m->id, W2_FILE_ID_LEN, NULL, detail);
	if (rc == 0)
		rc = get_names(obj, m, detail);
	if (rc == 0)
		rc = get_uint(obj, "size", 0, W2_FILE_SIZE_MAX, &m->size, detail);
	if (rc == 0)
		rc = get_uint(obj, "chunkSize", W2_FILE_CHUNK_MIN, W2_FILE_CHUNK_MAX, &v, detail);
	if (rc == 0) {
		m->chunk_size = (uint32_t)v;
		rc = get_enc(obj, &m->enc, detail);
	}
	if (rc == 0)
		rc = get_hex(obj, "sha256", false, m->sha256, W2_FILE_SHA256_LEN, &m->has_hash,
			     detail);
	if (rc == 0)
		rc = w2_file_manifest_validate(m, detail);
	return rc;
}

int w2__file_manifest_to_json(const struct w2_file_manifest *m, json_t *obj)
{
	char id[2 * W2_FILE_ID_LEN + 1], hash[2 * W2_FILE_SHA256_LEN + 1];
	int rc = 0;

	w2__file_hex(m->id, W2_FILE_ID_LEN, id);
	rc |= json_object_set_new(obj, "id", json_string(id));
	rc |= json_object_set_new(obj, "name", json_string(m->name));
	rc |= json_object_set_new(obj, "size", json_integer((json_int_t)m->size));
	rc |= json_object_set_new(obj, "chunkSize", json_integer((json_int_t)m->chunk_size));
	rc |= json_object_set_new(obj, "enc",
				  json_string(m->enc == W2_FILE_ENC_CHACHA ? ENC_CHACHA : ENC_NONE));
	if (m->has_hash) {
		w2__file_hex(m->sha256, W2_FILE_SHA256_LEN, hash);
		rc |= json_object_set_new(obj, "sha256", json_string(hash));
	}
	if (m->path[0])
		rc |= json_object_set_new(obj, "path", json_string(m->path));
	return rc ? W2_ENOMEM : 0;
}

/* ---- per-type parsers ---- */

typedef int (*parse_fn)(const json_t *obj, struct w2_file_ctrl *m, char *detail);

static int parse_offer(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	const json_t *v = get_opt(obj, "v");
	const char *mime;
	uint64_t lanes = 0;
	int rc;

	if (!v || !json_is_integer(v))
		return fail(detail, W2_EINVAL, "%s is missing or not an integer", "v");
	/* Another version is well-formed but not ours: `unsupported`. */
	if (json_integer_value(v) != W2_FILE_VERSION)
		return fail(detail, W2_EPROTO, "%s is not 1 (unsupported version)", "v");
	rc = w2__file_manifest_from_json(obj, &m->manifest, detail);
	if (rc == 0)
		rc = get_pk(obj, m->pk, detail);
	if (rc == 0)
		rc = get_string(obj, "mime", false, &mime, detail);
	if (rc == 0 && mime)
		rc = copy_bounded(mime, m->mime, sizeof(m->mime), "mime", detail);
	if (rc == 0 && get_opt(obj, "lanes"))
		rc = get_uint(obj, "lanes", 1, W2_FILE_LANES_MAX, &lanes, detail);
	m->lanes = (unsigned)lanes;
	return rc;
}

static int parse_accept(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	int rc = get_pk(obj, m->pk, detail);

	return rc ? rc : get_ranges(obj, "have", &m->ranges, detail);
}

static int parse_nack(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	return get_ranges(obj, "ranges", &m->ranges, detail);
}

static int parse_nothing(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	return 0;
}

static int parse_hash(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	return get_hex(obj, "sha256", true, m->sha256, W2_FILE_SHA256_LEN, NULL, detail);
}

static int parse_reason(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	const char *s;
	int rc = get_string(obj, "reason", false, &s, detail);

	if (rc == 0 && s) {
		m->has_text = true;
		copy_text(s, m->text);
	}
	return rc;
}

static const char *const code_names[] = {
	[W2_FILE_CODE_BAD_MESSAGE] = "bad-message", [W2_FILE_CODE_UNSUPPORTED] = "unsupported",
	[W2_FILE_CODE_INTEGRITY] = "integrity",     [W2_FILE_CODE_TOO_LARGE] = "too-large",
	[W2_FILE_CODE_STORAGE] = "storage",         [W2_FILE_CODE_CANCELLED] = "cancelled",
	[W2_FILE_CODE_INTERNAL] = "internal",
};

const char *w2_file_code_name(enum w2_file_code c)
{
	if ((unsigned)c >= sizeof(code_names) / sizeof(code_names[0]))
		return NULL;
	return code_names[c];
}

static int parse_error(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	const char *code, *msg;
	int rc = get_string(obj, "code", true, &code, detail);

	if (rc == 0)
		rc = copy_bounded(code, m->code_str, sizeof(m->code_str), "code", detail);
	if (rc == 0)
		rc = get_string(obj, "message", true, &msg, detail);
	if (rc != 0)
		return rc;
	m->code = W2_FILE_CODE_OTHER;
	for (size_t i = 1; i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (strcmp(code, code_names[i]) == 0)
			m->code = (enum w2_file_code)i;
	m->has_text = true;
	copy_text(msg, m->text);
	return 0;
}

/* The doc's table: one row per "t". */
static const struct {
	const char *name;
	enum w2_file_ctrl_type type;
	parse_fn parse;
} ctrl_types[] = {
	{"offer", W2_FILE_CTRL_OFFER, parse_offer},
	{"accept", W2_FILE_CTRL_ACCEPT, parse_accept},
	{"reject", W2_FILE_CTRL_REJECT, parse_reason},
	{"pause", W2_FILE_CTRL_PAUSE, parse_nothing},
	{"continue", W2_FILE_CTRL_CONTINUE, parse_nothing},
	{"nack", W2_FILE_CTRL_NACK, parse_nack},
	{"done", W2_FILE_CTRL_DONE, parse_hash},
	{"complete", W2_FILE_CTRL_COMPLETE, parse_hash},
	{"cancel", W2_FILE_CTRL_CANCEL, parse_reason},
	{"error", W2_FILE_CTRL_ERROR, parse_error},
};

#define CTRL_TYPES (sizeof(ctrl_types) / sizeof(ctrl_types[0]))

const char *w2_file_ctrl_type_name(enum w2_file_ctrl_type t)
{
	for (size_t i = 0; i < CTRL_TYPES; i++)
		if (ctrl_types[i].type == t)
			return ctrl_types[i].name;
	return NULL;
}

/* ---- parse ---- */

void w2_file_ctrl_init(struct w2_file_ctrl *m)
{
	memset(m, 0, sizeof(*m));
}

void w2_file_ctrl_deinit(struct w2_file_ctrl *m)
{
	if (!m)
		return;
	w2_free(m->ranges.v);
	w2_file_ctrl_init(m);
}

const char *w2_file_ctrl_answer_code(int parse_result)
{
	if (parse_result == W2_EPROTO)
		return "unsupported";
	if (parse_result == W2_EINVAL)
		return "bad-message";
	return "internal";
}

/* Reads "id" early, so even a message refused later can be answered with
 * an error naming its transfer. Only `error` may come without one. */
static int parse_id(const json_t *obj, struct w2_file_ctrl *m, bool required, char *detail)
{
	return get_hex(obj, "id", required, m->id, W2_FILE_ID_LEN, &m->has_id, detail);
}

static int parse_object(const json_t *obj, struct w2_file_ctrl *m, char *detail)
{
	const char *t;
	size_t i;
	int rc;

	if (!json_is_object(obj))
		return fail(detail, W2_EINVAL, "%s", "control message is not a JSON object");
	rc = get_string(obj, "t", true, &t, detail);
	if (rc != 0)
		return rc;
	for (i = 0; i < CTRL_TYPES && strcmp(t, ctrl_types[i].name) != 0; i++)
		;
	rc = parse_id(obj, m, i == CTRL_TYPES || ctrl_types[i].type != W2_FILE_CTRL_ERROR, detail);
	if (i == CTRL_TYPES) {
		m->has_id = rc == 0 && m->has_id;
		return fail(detail, W2_EPROTO, "t \"%.40s\" is not a known message type", t);
	}
	if (rc != 0) {
		m->has_id = false;
		return rc;
	}
	m->type = ctrl_types[i].type;
	return ctrl_types[i].parse(obj, m, detail);
}

int w2_file_ctrl_parse(const char *json, size_t len, struct w2_file_ctrl *m, char *detail)
{
	json_t *root;
	json_error_t jerr;
	int rc;

	w2_file_ctrl_init(m);
	if (len > W2_FILE_CONTROL_MAX)
		return fail(detail, W2_EINVAL, "%s", "control message is longer than 64 KiB");
	/* Duplicate keys are refused: two parsers reading the same message
	 * differently (first key wins, last key wins) is how a checked field
	 * gets swapped for an unchecked one. */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(detail, W2_EINVAL, "%s", "control message is not valid JSON");
	rc = parse_object(root, m, detail);
	json_decref(root);
	if (rc == 0 && m->type == W2_FILE_CTRL_OFFER)
		memcpy(m->id, m->manifest.id, W2_FILE_ID_LEN);
	return rc;
}
