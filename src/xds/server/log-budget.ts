// Rate-limited warnings: the first few occurrences of a kind in a window are logged in full, the
// rest are counted and summarised once the window ends (count, distinct nodes, the last one seen).
// 20,000 NACKs in a burst become a handful of lines instead of 20,000. LogBudget is pure (the caller
// gives the time); BudgetedWarnings puts it over a logger and a timer.
import type { Logger } from '../../log/logger.js';

export interface BudgetSummary {
  kind: string;
  /** Occurrences not logged in full during the window. */
  suppressed: number;
  /** Distinct nodes among them (counted up to MAX_TRACKED_NODES). */
  nodes: number;
  windowMs: number;
  last: Record<string, unknown>;
}

/** Distinct node ids remembered per window; beyond it the count says "at least". */
const MAX_TRACKED_NODES = 1000;

interface Window {
  startedAt: number;
  logged: number;
  suppressed: number;
  nodes: Set<string>;
  last: Record<string, unknown>;
}

export class LogBudget {
  private readonly windows = new Map<string, Window>();

  constructor(
    /** Full lines per kind and window. */
    private readonly perWindow = 5,
    private readonly windowMs = 10_000,
  ) {}

  /**
   * Records one occurrence; true when it should be logged in full. `closed` receives the summary of
   * a window that ended before this occurrence (its suppressed count is above 0).
   */
  admit(
    kind: string,
    node: string,
    fields: Record<string, unknown>,
    now: number,
    closed: (s: BudgetSummary) => void,
  ): boolean {
    let w = this.windows.get(kind);
    if (w && now - w.startedAt >= this.windowMs) {
      this.close(kind, w, closed);
      w = undefined;
    }
    if (!w) this.windows.set(kind, (w = { startedAt: now, logged: 0, suppressed: 0, nodes: new Set(), last: fields }));
    if (w.logged < this.perWindow) {
      w.logged++;
      return true;
    }
    w.suppressed++;
    if (w.nodes.size < MAX_TRACKED_NODES) w.nodes.add(node);
    w.last = fields;
    return false;
  }

  /** Ends every window that is over by `now` (or all of them with now = Infinity), summarising each. */
  flush(now: number, closed: (s: BudgetSummary) => void): void {
    for (const [kind, w] of this.windows) if (now - w.startedAt >= this.windowMs) this.close(kind, w, closed);
  }

  /** Whether any window is open (a flush will be needed). */
  get pending(): boolean {
    return this.windows.size > 0;
  }

  private close(kind: string, w: Window, closed: (s: BudgetSummary) => void): void {
    this.windows.delete(kind);
    if (w.suppressed > 0)
      closed({ kind, suppressed: w.suppressed, nodes: w.nodes.size, windowMs: this.windowMs, last: w.last });
  }
}

/** A LogBudget over a logger: full lines while the budget lasts, then one summary per kind and window. */
export class BudgetedWarnings {
  private timer: NodeJS.Timeout | undefined;
  private readonly summarise = (s: BudgetSummary): void =>
    this.log.warn(`${s.kind} (summary)`, {
      notLoggedOneByOne: s.suppressed,
      nodes: s.nodes,
      windowSeconds: s.windowMs / 1000,
      last: s.last,
    });

  constructor(
    private readonly log: Logger,
    private readonly windowMs = 10_000,
    private readonly budget = new LogBudget(5, windowMs),
  ) {}

  /** `kind` is the log message; fields should name the node. */
  warn(kind: string, node: string, fields: Record<string, unknown>): void {
    if (this.budget.admit(kind, node, fields, Date.now(), this.summarise)) this.log.warn(kind, fields);
    this.arm();
  }

  /** Summaries are due when a window ends, also when nothing else happens after it. */
  private arm(): void {
    if (this.timer !== undefined || !this.budget.pending) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.budget.flush(Date.now(), this.summarise);
      this.arm();
    }, this.windowMs);
    this.timer.unref();
  }

  /** Summarises whatever is left at once. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.budget.flush(Infinity, this.summarise);
  }
}
