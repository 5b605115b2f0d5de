/**
 * `watchChanges` for PostgreSQL: one dedicated connection (never a pooled one: a pooled client is
 * handed to other callers, and LISTEN belongs to a session) that runs `LISTEN tokenbox_changes`
 * and calls `onChange` for each notification. Every change-log append NOTIFYs in its transaction,
 * so a follower is woken at each commit instead of at its next poll.
 *
 * A dropped connection (a server restart, `pg_terminate_backend`, a network cut) is reconnected
 * with backoff (100 ms doubling to 2 s). Notifications sent while it was down are lost, so after
 * LISTEN is back `onChange` is called once: the follower reads from its last seq and misses
 * nothing. The poll stays the guarantee either way; this is only the fast path.
 */
import pg from 'pg';
import type { ClientConfig, Notification } from 'pg';
import { CHANGES_CHANNEL } from './statements.js';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;

export class ChangeListener {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private delay = FIRST_DELAY_MS;
  /** Set once any attempt failed or a connection dropped: the next LISTEN must be followed by a catch-up call. */
  private missedSome = false;

  /**
   * @param onChange called for each notification, and once after every re-LISTEN; it must not throw.
   * @param onListening told each time LISTEN is in place (`reconnected`: not the first time), for
   *   diagnostics and tests, which wait for it instead of sleeping.
   */
  constructor(
    private readonly config: ClientConfig,
    private readonly onChange: () => void,
    private readonly onListening?: (reconnected: boolean) => void,
  ) {}

  start(): void {
    void this.connect();
  }

  /** Ends the connection and any pending reconnect; nothing of it keeps the process alive afterwards. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.config);
    this.client = client;
    let dropped = false;
    const drop = (): void => {
      if (dropped) return;
      dropped = true;
      this.missedSome = true;
      if (this.client === client) this.client = null;
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    // 'error' and 'end' both mean this session is over (either may come first, or only one).
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', (message: Notification) => {
      if (message.channel === CHANGES_CHANNEL) this.onChange();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch {
      drop();
      return;
    }
    if (this.stopped || dropped) return;
    this.delay = FIRST_DELAY_MS;
    const reconnected = this.missedSome;
    this.missedSome = false;
    if (reconnected) this.onChange();
    this.onListening?.(reconnected);
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) void this.connect();
    }, delay);
  }
}
