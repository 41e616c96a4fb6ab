// The media layer: getting the camera, microphone and screen, with failures
// turned into WebRTC2Errors a user interface can explain.

import { SdkErrorCode, WebRTC2Error } from './errors.js';

/**
 * What to capture: the same shape as getUserMedia's constraints. Omitted or
 * `{}` means no media (a data-only connection).
 * @typedef {{audio?: boolean | MediaTrackConstraints, video?: boolean | MediaTrackConstraints}} MediaConstraints
 */

/**
 * True when `c` asks for any media.
 * @param {MediaConstraints | undefined} c
 */
export function wantsMedia(c) {
  return Boolean(c && (c.audio || c.video));
}

/**
 * The kinds `c` asks for, as the invite announces them.
 * @param {MediaConstraints | undefined} c
 * @returns {{audio: boolean, video: boolean}}
 */
export function mediaKinds(c) {
  return { audio: Boolean(c?.audio), video: Boolean(c?.video) };
}

/**
 * Maps a DOMException of getUserMedia/getDisplayMedia to a WebRTC2Error.
 * @param {unknown} e
 * @param {string} what e.g. 'camera or microphone'
 * @returns {WebRTC2Error}
 */
export function mediaError(e, what) {
  const name = /** @type {{name?: string}} */ (e)?.name;
  if (name === 'NotAllowedError' || name === 'SecurityError') {
    return new WebRTC2Error(SdkErrorCode.MEDIA_DENIED,
      `access to the ${what} was denied (allow it in the browser's site settings)`, { cause: e });
  }
  if (name === 'NotFoundError' || name === 'OverconstrainedError') {
    return new WebRTC2Error(SdkErrorCode.MEDIA_UNAVAILABLE, `no ${what} matching the request was found`, { cause: e });
  }
  if (name === 'NotReadableError' || name === 'AbortError') {
    return new WebRTC2Error(SdkErrorCode.MEDIA_UNAVAILABLE,
      `the ${what} could not be started (is another application using it?)`, { cause: e });
  }
  return new WebRTC2Error(SdkErrorCode.MEDIA_UNAVAILABLE,
    `the ${what} could not be opened: ${/** @type {Error} */ (e)?.message ?? e}`, { cause: e });
}

/**
 * Opens the camera and/or microphone.
 * @param {MediaConstraints | undefined} constraints
 * @returns {Promise<MediaStream | null>} null when no media was asked for
 * @throws {WebRTC2Error} 'media-denied' or 'media-unavailable'
 */
export async function openUserMedia(constraints) {
  if (!wantsMedia(constraints)) return null;
  const c = /** @type {MediaConstraints} */ (constraints);
  const what = c.audio && c.video ? 'camera and microphone' : c.video ? 'camera' : 'microphone';
  if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
    throw new WebRTC2Error(SdkErrorCode.MEDIA_UNAVAILABLE,
      `this page cannot use the ${what} (media needs a secure context: https or localhost)`);
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: c.audio ?? false, video: c.video ?? false });
  } catch (e) {
    throw mediaError(e, what);
  }
}

/**
 * Opens a screen (or window, or tab) capture chosen by the user.
 * @returns {Promise<MediaStreamTrack>} its video track
 * @throws {WebRTC2Error} 'screen-share-failed'
 */
export async function openScreen() {
  if (!globalThis.navigator?.mediaDevices?.getDisplayMedia) {
    throw new WebRTC2Error(SdkErrorCode.SCREEN_SHARE_FAILED, 'this browser cannot share the screen');
  }
  try {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    return s.getVideoTracks()[0];
  } catch (e) {
    const inner = mediaError(e, 'screen');
    throw new WebRTC2Error(SdkErrorCode.SCREEN_SHARE_FAILED, inner.message, { cause: e });
  }
}

/**
 * Stops every track of `stream` (turns the camera light off).
 * @param {MediaStream | null | undefined} stream
 */
export function stopStream(stream) {
  for (const t of stream?.getTracks() ?? []) t.stop();
}
