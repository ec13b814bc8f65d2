/**
 * Runs `call` with an abort signal that fires after `ms`. Unlike `AbortSignal.timeout`, the
 * timer keeps the process alive: a fetch whose socket the network reset can otherwise hang
 * with nothing else scheduled, and a CLI then exits mid-await instead of reporting a timeout.
 */
export async function withDeadline<T>(
  ms: number,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException('no answer in time', 'TimeoutError')),
    ms,
  );
  try {
    return await call(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}
