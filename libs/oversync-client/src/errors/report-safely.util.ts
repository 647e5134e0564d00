/**
 * Wraps an error reporter (the app's `onBackgroundError`) so that calling it never throws. Its
 * callers run detached from any app call (background loops, debounced saves, status listeners): a
 * reporter that throws, or returns a rejected promise, would otherwise end a background loop or
 * surface as an unhandled rejection.
 */
export function reportSafely(report: (error: unknown) => void): (error: unknown) => void {
  return (error) => {
    try {
      const result: unknown = report(error);
      if (isThenable(result)) void result.then(undefined, ignore);
    } catch {
      // The reporter is the last channel for background errors: nothing is left to tell.
    }
  };
}

function ignore(): void {}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
