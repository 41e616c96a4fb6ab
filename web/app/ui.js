// UI messages of the web app: the status line (an aria-live region, so
// screen readers read every change), the connection banner, switching
// between views, and the sentences that explain every failure a user can
// hit. Error codes are the SDK's and the HTTP API's (docs/protocol.md,
// web/sdk/errors.js); the sentences are for people and may change.

/** @param {string} id */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
}

/** The name shown for a peer id: `alice@localhost/laptop` -> `alice`. */
export function displayName(peerId) {
  const s = String(peerId ?? '');
  const at = s.indexOf('@');
  return at < 0 ? s : s.slice(0, at);
}

/**
 * Shows a sentence in the status region.
 * @param {string} text
 * @param {'info' | 'error'} [kind='info']
 */
export function announce(text, kind = 'info') {
  const el = $('status');
  el.textContent = text;
  el.dataset.kind = kind;
}

/** Empties the status region. */
export function clearStatus() {
  announce('');
}

/**
 * Shows the banner (connection problems), or hides it with `text` null.
 * @param {string | null} text
 * @param {(() => void) | null} [retry] shows a "Try again" button calling it
 */
export function banner(text, retry = null) {
  const el = $('banner');
  const btn = /** @type {HTMLButtonElement} */ ($('banner-retry'));
  el.hidden = text === null;
  $('banner-text').textContent = text ?? '';
  btn.hidden = !retry;
  btn.onclick = retry;
}

/** The views of the app; exactly one of the main ones is shown. */
const VIEWS = ['view-signin', 'view-home'];

/** @param {'view-signin' | 'view-home'} id */
export function showView(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
  const signedIn = id !== 'view-signin';
  $('sign-out').hidden = !signedIn;
  $('whoami').hidden = !signedIn;
}

/**
 * The sentence for a failure, from its code.
 * @param {{code?: string, message?: string} | null | undefined} err
 * @param {string} [peer] the other person's name, when the failure is about a call
 * @returns {string}
 */
export function errorText(err, peer = 'They') {
  const code = err?.code ?? '';
  const fn = ERROR_TEXT[code];
  if (fn) return fn(peer, err?.message ?? '');
  return `Something went wrong (${code || 'error'}): ${err?.message ?? err}`;
}

/** @type {Record<string, (peer: string, detail: string) => string>} */
const ERROR_TEXT = {
  'unauthorized': () => 'The server refused the token: it is invalid or has expired. Sign in again.',
  'token-expired': () => 'Your sign-in has expired. Sign in again.',
  'token-missing': () => 'Paste a token first.',
  'name-taken': () => 'That name is in use by someone who is signed in now. Choose another name.',
  'bad-name': () => "Names are 1 to 64 letters, digits, '.', '_' or '-', and do not start with '.'.",
  'guest-disabled': () => 'This server does not offer sign-in by name. Paste a token from your organisation instead.',
  'rate-limited': () => 'Too many people are signing in right now. Try again in a moment.',
  'unreachable': () => 'The server cannot be reached. Check your network connection.',
  'replaced': () => 'You were signed out because this session was opened again in another tab.',
  'too-many-sessions': () => 'You are signed in on too many devices or tabs. Close one and sign in again.',
  'unsupported-version': () => 'This app is out of date for the server. Reload the page.',
  'room-full': () => 'The list of people online is full; you can still be called.',
  'peer-unavailable': (p) => `${p} is not online any more.`,
  'rejected': (p) => `${p} declined the call.`,
  'no-answer': (p) => `${p} did not answer.`,
  'cancelled': (p) => `${p} cancelled the call.`,
  'answered-elsewhere': () => 'The call was answered on another of your devices.',
  'media-denied': () => "Camera or microphone access was denied. Allow it in the browser's site settings and try again.",
  'media-unavailable': () => 'The camera or microphone could not be started. Is it connected, or used by another application?',
  'screen-share-failed': (_p, d) => `Screen sharing did not start: ${d || 'it was refused or is not available.'}`,
  'connection-failed': (p) => `The connection to ${p} failed. A firewall may be blocking it; try again.`,
  'connection-closed': () => 'The call has ended.',
  'closed': () => 'You are signed out.',
  'too-large': () => 'That message is too long.',
  'backpressure': () => 'Messages are being sent too fast; wait a moment.',
};
