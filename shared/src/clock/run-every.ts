export interface Repeating {
  /** No run starts after this; resolves once the run under way, if any, has ended. */
  stop(): Promise<void>;
}

/**
 * Runs `work` every `intervalMs`, never two runs at once (a slow one is not piled on), without
 * keeping the process alive. `work` reports its own failures; one it lets through is dropped
 * rather than left an unhandled rejection.
 */
export function runEvery(intervalMs: number, work: () => Promise<void>): Repeating {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running !== null) return;
    running = work()
      .catch(() => undefined)
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
