// Sign-in of the web app: what the server offers (GET /api/info), guest
// sign-in by name (POST /auth/guest), and the token kept in sessionStorage
// so that a reload signs back in. docs/protocol.md, "HTTP API", describes
// both endpoints. A token is never put in a URL and never logged.

const TOKEN_KEY = 'webrtc2.token';
const DEVICE_KEY = 'webrtc2.device';

/** A user name as the server accepts it (docs/protocol.md). */
export const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/**
 * A failure of the HTTP API, with the server's error code.
 */
export class AuthError extends Error {
  /**
   * @param {string} code e.g. 'name-taken', 'unreachable'
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

/**
 * What the server offers.
 * @returns {Promise<{domain: string, guestTokens: boolean} | null>} null
 *   when the server cannot be reached or answers oddly
 */
export async function fetchInfo() {
  try {
    const r = await fetch('/api/info', { cache: 'no-store' });
    if (!r.ok) return null;
    const j = await r.json();
    return { domain: String(j.domain ?? ''), guestTokens: j.guestTokens === true };
  } catch {
    return null;
  }
}

/**
 * Signs in as a guest with `name`.
 * @param {string} name
 * @returns {Promise<{token: string, peer: string, expires: number}>}
 * @throws {AuthError} the server's code ('name-taken', 'bad-name',
 *   'guest-disabled', 'rate-limited', ...) or 'unreachable'
 */
export async function guestSignIn(name) {
  if (!NAME_RE.test(name)) throw new AuthError('bad-name', 'not a valid user name');
  let r;
  try {
    r = await fetch(`/auth/guest?name=${encodeURIComponent(name)}`, { method: 'POST', cache: 'no-store' });
  } catch {
    throw new AuthError('unreachable', 'the server cannot be reached');
  }
  let body = null;
  try {
    body = await r.json();
  } catch { /* not JSON: handled below */ }
  if (r.ok && body && typeof body.token === 'string') {
    return { token: body.token, peer: String(body.peer ?? ''), expires: Number(body.expires) || 0 };
  }
  const code = typeof body?.error === 'string' ? body.error : `http-${r.status}`;
  throw new AuthError(code, typeof body?.message === 'string' ? body.message : `HTTP ${r.status}`);
}

/**
 * The `exp` claim of a JWT (Unix seconds), or 0 when it has none or the
 * token is not a JWT. The signature is not checked: the server does that.
 * @param {string} token
 */
export function tokenExpiry(token) {
  try {
    const part = token.split('.')[1];
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const exp = JSON.parse(json).exp;
    return typeof exp === 'number' ? exp : 0;
  } catch {
    return 0;
  }
}

/**
 * The stored sign-in, or null.
 * @returns {{token: string, expires: number} | null}
 */
export function loadToken() {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) ?? 'null');
    if (s && typeof s.token === 'string' && s.token) return { token: s.token, expires: Number(s.expires) || 0 };
  } catch { /* corrupt: treated as absent */ }
  return null;
}

/**
 * @param {string} token
 * @param {number} expires Unix seconds, 0 if unknown
 */
export function saveToken(token, expires) {
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token, expires }));
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * True when `expires` (Unix seconds, 0 for unknown) has passed.
 * @param {number} expires
 */
export function isExpired(expires) {
  return expires > 0 && expires * 1000 <= Date.now();
}

/**
 * This tab's device name: random, kept across reloads of the tab, so a
 * reload replaces the tab's previous session instead of adding one.
 */
export function deviceName() {
  let d = sessionStorage.getItem(DEVICE_KEY);
  if (!d || !/^[A-Za-z0-9._-]{1,32}$/.test(d)) {
    const b = crypto.getRandomValues(new Uint8Array(6));
    d = `web-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
    sessionStorage.setItem(DEVICE_KEY, d);
  }
  return d;
}
