/**
 * Lifetimes, skews and size limits that more than one module must agree on (SPEC §2, §4.4, §7).
 * Written once here; everything that needs one imports it.
 */

/** A tk lives at most an hour: `exp - iat <= 3600` (SPEC §2, §4.4). */
export const MAX_TK_LIFETIME_S = 3600;
export const MAX_TK_LIFETIME_MS = MAX_TK_LIFETIME_S * 1000;

/**
 * How far the clocks of two tokenbox processes may disagree. A tk's `iat` may be this far in a
 * verifier's future (it was minted on a node whose clock runs ahead).
 */
export const CLOCK_SKEW_MS = 60_000;
export const CLOCK_SKEW_S = CLOCK_SKEW_MS / 1000;

/**
 * How long a deleted pk/sk id is remembered as a tombstone, so its tks are refused without a
 * read: the longest tk life, plus the skew of the node that minted it and of the node that
 * deleted its parent (each clock may be off by CLOCK_SKEW_MS in the other direction).
 */
export const TOMBSTONE_RETENTION_MS = MAX_TK_LIFETIME_MS + 2 * CLOCK_SKEW_MS;

/**
 * How long the change log keeps an entry (SPEC §7). Far longer than a tombstone must live and
 * than any follower lags while it is healthy; a follower that could not read the log for longer
 * than half of it starts over with an empty cache (change-follower.ts), so pruning never drops
 * an entry a live cache still needs. A delete's entry also lets retrieve tell a revoked token
 * from a forged one; after this, a long-deleted token is answered as one that never existed.
 */
export const CHANGE_RETENTION_MS = 7 * 24 * 3_600_000;

/** Most scopes a tk payload may carry; a longer list is malformed, so it is refused at minting. */
export const MAX_TK_SCOPES = 256;
