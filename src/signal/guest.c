/* Guest sign-in: a token for a name, for the web app of the embedded
 * default (docs/security-auth.md, "Guest sign-in"). The transport answers
 * POST /auth/guest with what this returns; nothing here does I/O. */
#include "signal/signal_int.h"

#include "core/error.h"
#include "core/log.h"

#include <string.h>

#define MOD "guest"

/* One server-wide bucket of W2_GUEST_RATE tokens refilled at W2_GUEST_RATE
 * a second; w2_signal_create() fills it. */
static bool guest_bucket_take(struct w2_signal *s, uint64_t now_ms)
{
	const uint64_t cap = (uint64_t)W2_GUEST_RATE * 1000;

	if (now_ms > s->guest_bucket_ms) {
		uint64_t add = now_ms - s->guest_bucket_ms;

		/* Beyond a second of refill the bucket is full anyway; capping
		 * the gap first keeps the product from overflowing. */
		if (add > 1000)
			add = 1000;
		s->guest_bucket_milli += add * W2_GUEST_RATE;
		if (s->guest_bucket_milli > cap)
			s->guest_bucket_milli = cap;
		s->guest_bucket_ms = now_ms;
	}
	if (s->guest_bucket_milli < 1000)
		return false;
	s->guest_bucket_milli -= 1000;
	return true;
}

enum w2_guest_result w2_signal_guest_token(struct w2_signal *s, const char *name, size_t len,
					   uint64_t now_ms, struct w2_guest_grant *out)
{
	const struct w2_config *cfg = s->cfg;
	char user[W2_USER_MAX + 1];
	int64_t now_s = (int64_t)(now_ms / 1000);
	int rc;

	out->token = NULL;
	out->expires_at = 0;
	if (!cfg->guest_tokens)
		return W2_GUEST_DISABLED;
	if (!guest_bucket_take(s, now_ms))
		return W2_GUEST_RATE_LIMITED;
	if (!name || !w2_user_name_valid(name, len))
		return W2_GUEST_BAD_NAME;
	/* A guest must not take over (or sit next to) someone signed in:
	 * hello would admit the guest as that very user. */
	if (w2__user_find(s, name, len))
		return W2_GUEST_NAME_TAKEN;
	memcpy(user, name, len);
	user[len] = '\0';
	rc = w2_auth_mint_local(cfg, user, now_s, cfg->guest_token_ttl_s, &out->token);
	if (rc != 0) {
		W2_LOG_ERROR(MOD, "cannot sign a guest token: %s", w2_strerror(rc));
		return W2_GUEST_FAILED;
	}
	out->expires_at = now_s + cfg->guest_token_ttl_s;
	return W2_GUEST_OK;
}
