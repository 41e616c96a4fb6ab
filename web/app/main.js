// The webrtc2 web app: entry point. It wires the sign-in forms, runs the
// signed-in session (one WebRTC2Client, presence in the room `people`,
// calls), and registers the service worker that lets the app start
// offline (/sw.js).
//
// Session lifecycle: a token (from guest sign-in or pasted) -> client.ready
// -> the home view; the token is kept in sessionStorage so a reload signs
// back in; a refused or expired token, or signing out, goes back to the
// sign-in view.

import { WebRTC2Client } from '../sdk/webrtc2.js';
import {
  clearToken, deviceName, fetchInfo, guestSignIn, isExpired, loadToken, saveToken, tokenExpiry,
} from './auth.js';
import { CallController } from './call.js';
import { ChatPanel } from './chat.js';
import { FilesPanel } from './files.js';
import { PEOPLE_ROOM, PresenceList } from './presence.js';
import { StatsPanel } from './stats-panel.js';
import { $, announce, banner, displayName, errorText, showView } from './ui.js';

/** Errors after which the session is over and signing in again is the way on. */
const FINAL_CODES = new Set(['unauthorized', 'token-expired', 'replaced', 'too-many-sessions', 'unsupported-version']);

/** Longest delay setTimeout accepts (ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** @type {WebRTC2Client | null} */
let client = null;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let expiryTimer;
/** The signaling session was lost and is being re-established. */
let reconnecting = false;
/** A sign-out that waits for the running call to end (the token expired mid-call). */
let pendingSignOut = '';

const presence = new PresenceList(/** @type {HTMLUListElement} */ ($('people')), $('people-empty'),
  (peer, mode) => calls.call(peer, mode),
  // Files dropped on a person: a chat-only call, then the files.
  (peer, dropped) => {
    files.queue(dropped);
    calls.call(peer, 'chat');
  });
const chat = new ChatPanel(/** @type {HTMLOListElement} */ ($('chat-log')), /** @type {HTMLFormElement} */ ($('chat-form')),
  /** @type {HTMLInputElement} */ ($('chat-input')), (text) => announce(text, 'error'));
const stats = new StatsPanel({
  quality: $('stat-quality'), path: $('stat-path'), rtt: $('stat-rtt'), loss: $('stat-loss'), bitrate: $('stat-bitrate'),
});
const files = new FilesPanel();
const calls = new CallController(chat, stats, files, (phase) => {
  presence.setBusy(phase !== 'idle');
  if (phase === 'idle' && pendingSignOut) signOut(pendingSignOut);
});

// ------------------------------------------------------------- sign-in --

/** Shows the forms the server offers; pasting a token is always possible. */
async function loadSignIn() {
  const info = await fetchInfo();
  $('guest-form').hidden = info !== null && !info.guestTokens;
  $('token-or').hidden = $('guest-form').hidden;
  if (info === null) {
    banner(errorText({ code: 'unreachable' }), () => {
      banner(null);
      loadSignIn();
    });
  }
}

/** @param {SubmitEvent} e */
async function onGuestSubmit(e) {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('guest-name'));
  const name = input.value.trim();
  await withFormBusy($('guest-form'), async () => {
    try {
      const g = await guestSignIn(name);
      await startSession(g.token, g.expires);
    } catch (err) {
      announce(errorText(/** @type {any} */ (err)), 'error');
      input.focus();
    }
  });
}

/** @param {SubmitEvent} e */
async function onTokenSubmit(e) {
  e.preventDefault();
  const input = /** @type {HTMLTextAreaElement} */ ($('token-input'));
  const token = input.value.trim();
  // The token does not stay in the page once it has been used.
  input.value = '';
  if (!token) {
    announce(errorText({ code: 'token-missing' }), 'error');
    input.focus();
    return;
  }
  const expires = tokenExpiry(token);
  if (isExpired(expires)) {
    announce(errorText({ code: 'token-expired' }), 'error');
    input.focus();
    return;
  }
  await withFormBusy($('token-form'), () => startSession(token, expires));
}

/**
 * Disables a form's buttons while `fn` runs.
 * @param {HTMLElement} form
 * @param {() => Promise<void>} fn
 */
async function withFormBusy(form, fn) {
  const buttons = /** @type {NodeListOf<HTMLButtonElement>} */ (form.querySelectorAll('button'));
  for (const b of buttons) b.disabled = true;
  try {
    await fn();
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

// ------------------------------------------------------------- session --

/**
 * Signs in with `token`: resolves once the session is up, or the sign-in
 * view shows why not.
 * @param {string} token
 * @param {number} expires Unix seconds, 0 if unknown
 */
async function startSession(token, expires) {
  endClient();
  announce('Signing in…');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const c = new WebRTC2Client({
    signalingServer: `${scheme}://${location.host}/signal`,
    authentication: { type: 'token', token },
    device: deviceName(),
  });
  client = c;
  c.onStateChange = (s) => onSignalingState(c, s);
  c.onError = (err) => onClientError(c, err);
  c.onMember = (m) => presence.update(m);
  calls.setClient(c);
  let me;
  try {
    me = await c.ready;
  } catch (err) {
    if (client !== c) return;
    endClient();
    showView('view-signin');
    const code = /** @type {any} */ (err)?.code;
    if (code === 'unreachable') {
      banner(errorText({ code }), () => {
        banner(null);
        startSession(token, expires);
      });
      announce(errorText({ code }), 'error');
    } else {
      clearToken();
      announce(errorText(/** @type {any} */ (err)), 'error');
    }
    return;
  }
  if (client !== c) return;
  saveToken(token, expires);
  scheduleExpiry(expires);
  banner(null);
  $('whoami').textContent = `Signed in as ${displayName(me.peerId)}`;
  showView('view-home');
  announce(`Signed in as ${displayName(me.peerId)}.`);
  await joinPeople(c);
}

/**
 * Joins the room `people` and shows who else is in it.
 * @param {WebRTC2Client} c
 */
async function joinPeople(c) {
  try {
    const members = await c.joinRoom(PEOPLE_ROOM);
    if (client === c) presence.reset(/** @type {string} */ (c.peerId), members);
  } catch (err) {
    if (client === c) announce(errorText(/** @type {any} */ (err)), 'error');
  }
}

/**
 * @param {WebRTC2Client} c
 * @param {string} state
 */
function onSignalingState(c, state) {
  if (client !== c) return;
  if (state === 'reconnecting') {
    reconnecting = true;
    banner('The connection to the server was lost. Reconnecting…');
  } else if (state === 'open' && reconnecting) {
    reconnecting = false;
    banner(null);
    // Members who came or went while we were away were not announced.
    joinPeople(c);
  }
}

/**
 * Errors no promise reports: a final one (the session ended) signs out.
 * @param {WebRTC2Client} c
 * @param {any} err
 */
function onClientError(c, err) {
  if (client !== c) return;
  if (c.state === 'closed' && FINAL_CODES.has(err?.code)) {
    const why = errorText(err);
    if (calls.phase === 'call') {
      pendingSignOut = why;
      banner(`${why} You will be signed out when this call ends.`);
    } else {
      signOut(why);
    }
    return;
  }
  console.warn('webrtc2:', err?.code, err?.message);
}

/**
 * Signs out when the token expires (guest tokens have no refresh).
 * @param {number} expires Unix seconds, 0 if unknown
 */
function scheduleExpiry(expires) {
  clearTimeout(expiryTimer);
  if (!expires) return;
  expiryTimer = setTimeout(() => {
    const why = errorText({ code: 'token-expired' });
    if (calls.phase === 'call') pendingSignOut = why;
    else signOut(why);
  }, Math.min(MAX_TIMER_MS, Math.max(0, expires * 1000 - Date.now())));
}

/** Ends the client and everything it carried. */
function endClient() {
  const c = client;
  client = null;
  reconnecting = false;
  calls.reset();
  c?.close();
  presence.clear();
  clearTimeout(expiryTimer);
}

/** @param {string} message */
function signOut(message) {
  pendingSignOut = '';
  endClient();
  clearToken();
  banner(null);
  showView('view-signin');
  announce(message);
  loadSignIn();
}

// ---------------------------------------------------------------- boot --

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js').catch((e) => console.warn('webrtc2: no service worker:', e?.message));
}

async function boot() {
  registerServiceWorker();
  $('guest-form').addEventListener('submit', (e) => onGuestSubmit(/** @type {SubmitEvent} */ (e)));
  $('token-form').addEventListener('submit', (e) => onTokenSubmit(/** @type {SubmitEvent} */ (e)));
  $('sign-out').addEventListener('click', () => signOut('You signed out.'));
  const saved = loadToken();
  if (saved && isExpired(saved.expires)) {
    clearToken();
    announce(errorText({ code: 'token-expired' }), 'error');
  }
  showView('view-signin');
  const info = loadSignIn();
  if (saved && !isExpired(saved.expires)) await startSession(saved.token, saved.expires);
  await info;
}

boot();
