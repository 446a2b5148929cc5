/**
 * A value now, or a promise of it: what the verification hot path returns, so that an
 * answer found in memory costs no promise and no microtask turn. Callers that are async
 * anyway simply `await` it.
 */
export type Settled<T> = T | Promise<T>;
