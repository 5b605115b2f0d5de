/**
 * A store that reports how long each call took (SPEC §10 metrics: store latency), wrapped around
 * any backend by the composition root. Off the hot path by construction: a cached verification
 * makes no store call. The observer is a mutable slot, a no-op until metrics are turned on.
 */
import type { Store, StoreObserver } from './port.js';

export function timedStore(store: Store, observer: StoreObserver): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string' || property === 'watchChanges') return value;
      return (...args: unknown[]): unknown => {
        const started = performance.now();
        const settle = (failed: boolean): void => observer.observe(property, (performance.now() - started) / 1000, failed);
        try {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            return result.then(
              (resolved: unknown) => {
                settle(false);
                return resolved;
              },
              (error: unknown) => {
                settle(true);
                throw error;
              },
            );
          }
          settle(false);
          return result;
        } catch (error) {
          settle(true);
          throw error;
        }
      };
    },
  });
}
