// Reconnect delays: exponential backoff with jitter, so that many clients
// cut off by the same daemon restart do not all come back in the same
// millisecond. Pure: the random source is injected.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialMs=250] delay before the first retry
 * @property {number} [maxMs=8000] the delay stops doubling here
 */

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry): the
 * base delay `initialMs * 2^attempt`, capped at `maxMs`, then drawn uniformly
 * from [base/2, base] ("equal jitter").
 *
 * @param {number} attempt 0-based number of failed attempts so far
 * @param {BackoffOptions} [opts]
 * @param {() => number} [random=Math.random] returns a number in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
  const initialMs = opts.initialMs ?? 250;
  const maxMs = opts.maxMs ?? 8000;
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}
