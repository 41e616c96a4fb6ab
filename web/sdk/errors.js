// Errors of the webrtc2 browser SDK. Every failure the SDK reports, through a
// rejected promise or an 'error' event, is a WebRTC2Error (a SignalingError
// when it comes from the signaling session) whose `code` is a
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
  /** The callee declined the call (request.reject()). */
  REJECTED: 'rejected',
  /** The callee did not answer within the call timeout. */
  NO_ANSWER: 'no-answer',
  /** The call was cancelled by the caller before it was answered. */
  CANCELLED: 'cancelled',
  /** Another device of the callee answered the call. */
  ANSWERED_ELSEWHERE: 'answered-elsewhere',
  /** The browser (or the user) refused access to the camera or microphone. */
  MEDIA_DENIED: 'media-denied',
  /** No camera or microphone matches the constraints, or it is in use. */
  MEDIA_UNAVAILABLE: 'media-unavailable',
  /** Screen sharing was refused or is not available in this browser. */
  SCREEN_SHARE_FAILED: 'screen-share-failed',
  /** ICE/DTLS could not establish or re-establish the peer-to-peer path. */
  CONNECTION_FAILED: 'connection-failed',
  /** The peer connection is closed; nothing can be sent on it. */
  CONNECTION_CLOSED: 'connection-closed',
  /** A data-channel message is larger than the peer accepts. */
  TOO_LARGE: 'too-large',
  /** More than maxQueuedBytes are waiting to be sent: await send() first. */
  BACKPRESSURE: 'backpressure',
  /** The remote peer spoke the call protocol wrongly (docs/sdk.md). */
  PROTOCOL: 'protocol-error',
});

/**
 * An error of the SDK: `code` is what programs should test (the server's
 * code or one of {@link SdkErrorCode}); `message` is a human sentence.
 */
export class WebRTC2Error extends Error {
  /**
   * @param {string} code kebab-case error code
   * @param {string} [message] human-readable sentence
   * @param {{cause?: unknown}} [options]
   */
  constructor(code, message, options) {
    super(message || code, options);
    this.name = 'WebRTC2Error';
    /** @type {string} */
    this.code = code;
  }
}

/**
 * An error of the signaling session: a protocol or SDK code.
 *
 * `code` is what programs should test; `message` is a human sentence (the
 * server's, when the server sent it; never a token or payload); `ref` is the
 * `id` of the request the error answers, when there was one.
 */
export class SignalingError extends WebRTC2Error {
  /**
   * @param {string} code kebab-case error code
   * @param {string} [message] human-readable sentence
   * @param {string} [ref] id of the request this error answers
   */
  constructor(code, message, ref) {
    super(code, message);
    this.name = 'SignalingError';
    /** @type {string | undefined} */
    this.ref = ref;
  }
}
