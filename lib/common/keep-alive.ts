/** The longest delay a Node timer takes (a longer one fires after 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Holds the process open while a push consumer runs or a long poll waits, and
 * returns the release. The store's timers are unref'd, so that its background
 * work (flush, checkpoint, reaper) never keeps a process alive, and a wait on
 * the arrival signal is a bare promise, which holds nothing: without a hold, a
 * script that only awaits a long poll or runs a consumer exits at once with
 * status 0, leaving the store's abort marker behind.
 */
export function keepAlive(): () => void {
  const t = setInterval(() => undefined, MAX_TIMER_MS);
  return () => clearInterval(t);
}
