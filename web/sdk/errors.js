// Errors of the webrtc2 browser SDK. Every failure the SDK reports, through a
// rejected promise or an 'error' event, is a SignalingError whose `code` is a
// stable kebab-case string: the server's code from docs/protocol.md
// ("unauthorized", "peer-unavailable", ...) or one of the SDK's own below.

/**
 * Codes the SDK itself produces (the server's codes are passed through as-is).
 * @readonly
 * @enum {string}
 */
export const SdkErrorCode = Object.freeze({
  /** No server in the list accepted a connection and said welcome. */
  UNREACHABLE: 'unreachable',
  /** The session was replaced by a newer one of the same device (close 4006). */
  REPLACED: 'replaced',
  /** The connection dropped before the request was answered. */
  DISCONNECTED: 'disconnected',
  /** The request was not answered in time. */
  TIMEOUT: 'timeout',
  /** send()/request() while no session is open (connecting or reconnecting). */
  NOT_OPEN: 'not-open',
  /** close() was called. */
  CLOSED: 'closed',
  /** The token function threw or returned something that is not a string. */
  TOKEN_FAILED: 'token-failed',
});

/**
 * An error with a protocol or SDK code.
 *
 * `code` is what programs should test; `message` is a human sentence (the
 * server's, when the server sent it; never a token or payload); `ref` is the
 * `id` of the request the error answers, when there was one.
 */
export class SignalingError extends Error {
  /**
   * @param {string} code kebab-case error code
   * @param {string} [message] human-readable sentence
   * @param {string} [ref] id of the request this error answers
   */
  constructor(code, message, ref) {
    super(message || code);
    this.name = 'SignalingError';
    /** @type {string} */
    this.code = code;
    /** @type {string | undefined} */
    this.ref = ref;
  }
}
