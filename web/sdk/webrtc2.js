// @webrtc2/client: the webrtc2 browser SDK, served by webrtc2d at
// /sdk/webrtc2.js as an ES module. No build step; one vendored library (vendor/,
// libsodium, loaded only when a file transfer starts).
//
//   import { WebRTC2Client } from '/sdk/webrtc2.js';
//
// The layers, each in its own file: signaling.js (the session with the
// server), client.js (calls), peer.js (one peer connection), media.js
// (devices), data.js (the data channel), stats.js (quality), files*.js (file
// transfer; libsodium in vendor/ is loaded only when a transfer starts).
// docs/sdk.md describes the API and the call protocol.

export { WebRTC2Client, IncomingRequest } from './client.js';
export { Connection, CALL_PROTOCOL } from './peer.js';
export { SignalingClient, SUBPROTOCOL } from './signaling.js';
export { WebRTC2Error, SignalingError, SdkErrorCode } from './errors.js';
export { qualityScore } from './stats.js';
export { OutgoingTransfer, IncomingTransfer, IncomingFile, FileErrorCode } from './files.js';
