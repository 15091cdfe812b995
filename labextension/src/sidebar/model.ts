/**
 * The sidebar's state: the runs listed, the filters, the groups by notebook and the counts.
 *
 * Pure logic (no DOM, no requests) so it is unit-tested on its own. The runs come from
 * pages of `GET /nbdurable/api/runs` and are kept current by the live feed: a changed run
 * is put in place, added when it is new and within the loaded window, or removed when it
 * no longer matches the filters. The order is the server's (newest first, then journal
 * ascending, then run id descending), so a page appended with the cursor continues it.
 */

import { Signal, type ISignal } from '@lumino/signaling';

import type { ListQuery, RunList, RunSummary } from './api';

export interface Filters {
  /** Statuses shown; empty shows every status. */
  statuses: ReadonlySet<string>;
  /** Case-insensitive search in id, function, reason, trigger, notebook and error (as the server searches). */
  text: string;
  /** One journal, or null for all. */
  journal: string | null;
}

export interface RunGroup {
  /** `nb:<path>` for a notebook's runs, `journal:<path>` for the others of a journal. */
  key: string;
  notebook: string | null;
  journal: string;
  label: string;
  runs: RunSummary[];
}

export const PAGE_SIZE = 100;

/** The key of a run across journals (run ids are unique only within one journal). */
export function runKey(journal: string, runId: string): string {
  return `${journal}\u0000${runId}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The listing's order: newest first; then journal ascending; then run id descending. */
export function compareRuns(a: RunSummary, b: RunSummary): number {
  if (a.started_at !== b.started_at) {
    return b.started_at - a.started_at;
  }
  return cmp(a.journal, b.journal) || cmp(b.run_id, a.run_id);
}

/** Whether a run passes the filters, deciding as the server does. */
export function matchesFilters(run: RunSummary, filters: Filters): boolean {
  if (filters.statuses.size > 0 && !filters.statuses.has(run.status)) {
    return false;
  }
  if (filters.journal !== null && run.journal !== filters.journal) {
    return false;
  }
  const needle = filters.text.trim().toLowerCase();
  if (needle === '') {
    return true;
  }
  const haystack = [
    run.run_id,
    run.function_id,
    run.status_reason,
    run.trigger,
    run.notebook,
    run.error?.message,
    run.error?.type,
  ];
  return haystack.some(h => typeof h === 'string' && h.toLowerCase().includes(needle));
}

/** The runs grouped by the notebook that started them (the others by journal), in the runs' order. */
export function groupRuns(runs: readonly RunSummary[]): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  for (const run of runs) {
    const key = run.notebook ? `nb:${run.notebook}` : `journal:${run.journal}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        key,
        notebook: run.notebook,
        journal: run.journal,
        label: run.notebook ?? `${run.journal}: not from a notebook`,
        runs: [],
      };
      groups.set(key, group);
    }
    group.runs.push(run);
  }
  return Array.from(groups.values());
}

/** What a run is called in the list: a cell's name without its `cell:` prefix. */
export function runTitle(run: Pick<RunSummary, 'function_id' | 'kind'>): string {
  return run.kind === 'cell' && run.function_id.startsWith('cell:') ? run.function_id.slice(5) : run.function_id;
}

export class RunsModel {
  private _filters: Filters = { statuses: new Set(), text: '', journal: null };
  private _runs: RunSummary[] = [];
  private readonly byKey = new Map<string, RunSummary>();
  private readonly knownStatus = new Map<string, string>();
  private _counts: Record<string, number> = {};
  private _total = 0;
  private _nextCursor: string | null = null;
  private _journalErrors: RunList['errors'] = [];
  private _loaded = false;
  private readonly collapsed = new Set<string>();
  private _selected: string | null = null;
  private _changed = new Signal<this, void>(this);
  private _selectionChanged = new Signal<this, string | null>(this);

  /** Emitted after any change of what the list shows. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted when the run the commands act on changes. */
  get selectionChanged(): ISignal<this, string | null> {
    return this._selectionChanged;
  }

  get filters(): Filters {
    return this._filters;
  }

  /** The runs shown, in the listing's order. */
  get runs(): readonly RunSummary[] {
    return this._runs;
  }

  get groups(): RunGroup[] {
    return groupRuns(this._runs);
  }

  /** Runs per status in the journals listed, before the status and text filters (the server's `counts`). */
  get counts(): Readonly<Record<string, number>> {
    return this._counts;
  }

  /** Runs waiting for an approval or an event: the sidebar icon's badge. */
  get waiting(): number {
    return this._counts.waiting ?? 0;
  }

  /** Runs matching the filters, loaded or not. */
  get total(): number {
    return this._total;
  }

  get hasMore(): boolean {
    return this._nextCursor !== null;
  }

  get nextCursor(): string | null {
    return this._nextCursor;
  }

  get journalErrors(): RunList['errors'] {
    return this._journalErrors;
  }

  /** Whether a first page has come in. */
  get loaded(): boolean {
    return this._loaded;
  }

  get selected(): string | null {
    return this._selected;
  }

  find(key: string): RunSummary | undefined {
    return this.byKey.get(key);
  }

  /** Change filters; true if the listing must be asked for again. */
  setFilters(change: Partial<Filters>): boolean {
    const next: Filters = { ...this._filters, ...change };
    const same =
      next.text.trim() === this._filters.text.trim() &&
      next.journal === this._filters.journal &&
      next.statuses.size === this._filters.statuses.size &&
      Array.from(next.statuses).every(s => this._filters.statuses.has(s));
    this._filters = next;
    if (!same) {
      this._changed.emit();
    }
    return !same;
  }

  /** Show or hide one status. */
  toggleStatus(status: string): boolean {
    const statuses = new Set(this._filters.statuses);
    if (statuses.has(status)) {
      statuses.delete(status);
    } else {
      statuses.add(status);
    }
    return this.setFilters({ statuses });
  }

  /** The listing request for the current filters (the next page when `more`). */
  query(more = false, limit = PAGE_SIZE): ListQuery {
    return {
      status: Array.from(this._filters.statuses).sort(),
      journal: this._filters.journal,
      text: this._filters.text.trim() || undefined,
      limit,
      cursor: more ? this._nextCursor : null,
    };
  }

  /** Take a page from the server: the first (replacing the list) or the next one (appended). */
  applyPage(page: RunList, append = false): void {
    if (!append) {
      this._runs = [];
      this.byKey.clear();
    }
    for (const run of page.runs) {
      const key = runKey(run.journal, run.run_id);
      this.knownStatus.set(key, run.status);
      if (!this.byKey.has(key)) {
        this._runs.push(run);
      }
      this.byKey.set(key, run);
    }
    this._runs = this._runs.map(r => this.byKey.get(runKey(r.journal, r.run_id)) ?? r);
    this._runs.sort(compareRuns);
    this._nextCursor = page.next_cursor;
    this.applyTotals(page);
    this._journalErrors = page.errors;
    this._loaded = true;
    this._changed.emit();
  }

  /** Take the counts and total of a listing (a one-run page asked for them alone). */
  applyTotals(page: Pick<RunList, 'counts' | 'total'>): void {
    this._counts = { ...page.counts };
    this._total = page.total;
    this._changed.emit();
  }

  /**
   * A run from the live feed. Returns true if the counts may have moved (its status changed,
   * or it is a run whose status was not known), so the caller asks the server for them.
   */
  applyRun(run: RunSummary): boolean {
    const key = runKey(run.journal, run.run_id);
    const before = this.knownStatus.get(key);
    this.knownStatus.set(key, run.status);
    const shown = this.byKey.has(key);
    if (matchesFilters(run, this._filters)) {
      const last = this._runs[this._runs.length - 1];
      if (shown) {
        this.byKey.set(key, run);
        this._runs = this._runs.map(r => (runKey(r.journal, r.run_id) === key ? run : r));
        this._runs.sort(compareRuns);
      } else if (this._nextCursor === null || last === undefined || compareRuns(run, last) < 0) {
        // Within the loaded window (a later page would bring a run past its end).
        this.byKey.set(key, run);
        this._runs.push(run);
        this._runs.sort(compareRuns);
      }
    } else if (shown) {
      this.byKey.delete(key);
      this._runs = this._runs.filter(r => runKey(r.journal, r.run_id) !== key);
    }
    this._changed.emit();
    return before !== run.status;
  }

  isCollapsed(groupKey: string): boolean {
    return this.collapsed.has(groupKey);
  }

  toggleGroup(groupKey: string): void {
    if (!this.collapsed.delete(groupKey)) {
      this.collapsed.add(groupKey);
    }
    this._changed.emit();
  }

  /** The run the commands act on when given no run (the focused or clicked row). */
  select(key: string | null): void {
    if (key !== this._selected) {
      this._selected = key;
      this._selectionChanged.emit(key);
    }
  }
}
