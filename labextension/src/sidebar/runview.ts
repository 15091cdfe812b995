/**
 * A run's timeline in a main-area tab, drawn by the same `TimelineView` as the cell's
 * output and kept current by the live feed.
 *
 * Each feed message about this run (a status change, a step written, by any process)
 * fetches the run's snapshot again (`GET /nbdurable/api/runs/{id}`); fetches never
 * overlap, and changes that come during one are folded into one more. The timeline's own
 * buttons (approve with a JSON payload, cancel, rerun from a step) act through the REST
 * API via the host.
 */

import { Widget } from '@lumino/widgets';

import { TimelineView } from '../renderer';
import type { ActionMessage, Snapshot } from '../types';
import { ApiError, type RunsApi } from './api';
import type { FeedRun, RunsFeed } from './feed';

export interface RunRef {
  run_id: string;
  journal: string;
}

export interface ActionOutcome {
  ok: boolean;
  message: string;
}

export namespace RunView {
  export interface IOptions {
    api: RunsApi;
    feed: RunsFeed;
    run: RunRef;
    /** Carry out one of the timeline's actions; resolves to the notice to show ('' for none). */
    act(run: RunRef, message: ActionMessage, view: RunView): Promise<ActionOutcome>;
  }
}

export class RunView extends Widget {
  readonly run: RunRef;
  private readonly api: RunsApi;
  private readonly feed: RunsFeed;
  private readonly view: TimelineView;
  private _snapshot: Snapshot | null = null;
  private fetching: Promise<void> | null = null;
  private again = false;
  private _loadError: string | null = null;

  constructor(options: RunView.IOptions) {
    super();
    this.run = options.run;
    this.api = options.api;
    this.feed = options.feed;
    this.addClass('nbd-sb-runview');
    this.node.tabIndex = -1;
    this.node.setAttribute('data-run-id', options.run.run_id);
    this.node.setAttribute('data-journal', options.run.journal);
    this.view = new TimelineView(this.node, {
      host: 'lab-tab',
      live: true,
      onAction: message => {
        void options.act(this.run, message, this).then(outcome => this.view.setNotice(outcome.message, outcome.ok ? 'ok' : 'error'));
      },
    });
    this.title.label = options.run.run_id;
    this.title.caption = `Run ${options.run.run_id} in ${options.run.journal}`;
    this.title.closable = true;
    this.feed.runChanged.connect(this.onRun, this);
    this.feed.reload.connect(this.onReload, this);
  }

  /** The last snapshot fetched (null before the first). */
  get snapshot(): Snapshot | null {
    return this._snapshot;
  }

  get loadError(): string | null {
    return this._loadError;
  }

  /** The run's status as last fetched. */
  get status(): string | null {
    const status = this._snapshot?.run?.status;
    return typeof status === 'string' ? status : null;
  }

  /** Fetch the snapshot again (coalesced: at most one request at a time, and one more after it). */
  refresh(): Promise<void> {
    if (this.fetching) {
      this.again = true;
      return this.fetching;
    }
    this.fetching = this.fetchLoop().finally(() => {
      this.fetching = null;
    });
    return this.fetching;
  }

  /** Show a notice under the header (an action's outcome). */
  notice(text: string, kind: 'ok' | 'error' | 'info' = 'info'): void {
    this.view.setNotice(text, kind);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.feed.runChanged.disconnect(this.onRun, this);
    this.feed.reload.disconnect(this.onReload, this);
    this.view.dispose();
    super.dispose();
  }

  private async fetchLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        const snapshot = await this.api.getRun(this.run.run_id, this.run.journal);
        if (this.isDisposed) {
          return;
        }
        this._snapshot = snapshot;
        this._loadError = null;
        this.view.update(snapshot);
        this.updateTitle();
      } catch (err) {
        if (this.isDisposed) {
          return;
        }
        this._loadError = err instanceof ApiError ? err.message : String((err as Error)?.message ?? err);
        this.view.setNotice(`Could not load the run: ${this._loadError}`, 'error');
      }
    } while (this.again && !this.isDisposed);
  }

  private updateTitle(): void {
    const run = this._snapshot?.run;
    const fn = typeof run?.function_id === 'string' ? run.function_id.replace(/^cell:/, '') : '';
    this.title.label = fn ? `${fn} · ${this.run.run_id}` : this.run.run_id;
    this.title.caption = `Run ${this.run.run_id}${fn ? ` of ${fn}` : ''} in ${this.run.journal}: ${this.status ?? ''}`;
    this.node.setAttribute('data-status', this.status ?? '');
  }

  private onRun(_: RunsFeed, change: FeedRun): void {
    if (change.run.run_id === this.run.run_id && change.journal === this.run.journal) {
      void this.refresh();
    }
  }

  private onReload(): void {
    void this.refresh();
  }
}
