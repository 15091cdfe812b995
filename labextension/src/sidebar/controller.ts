/**
 * What the sidebar and the run tabs do: load the runs, follow the feed, act on runs.
 *
 * One controller per application holds the REST client, the live feed, the list's model
 * and the open run tabs; the commands, the panel and the tabs all go through it, so an
 * action behaves the same from a row button, the context menu, the command palette or a
 * timeline button.
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget, Notification, type WidgetTracker } from '@jupyterlab/apputils';
import type { IEditorServices } from '@jupyterlab/codeeditor';
import type { IDocumentManager } from '@jupyterlab/docmanager';

import type { ActionMessage, Snapshot } from '../types';
import { ACTIVE_STATUSES, ApiError, type RunSummary, type RunsApi } from './api';
import { openCell } from './cell';
import { askEvent, askRerunStep, confirmCancel, errorText, showActionError, type StepChoice } from './dialogs';
import type { FeedRun, ReloadReason, RunsFeed } from './feed';
import { runsIcon } from './icons';
import { RunsModel, runKey, runTitle } from './model';
import type { RowAction } from './panel';
import { RunView, type ActionOutcome, type RunRef } from './runview';

/** How long after a status change the counts are asked for (changes close together share one request). */
const COUNTS_DELAY_MS = 300;

export interface ControllerOptions {
  app: JupyterFrontEnd;
  api: RunsApi;
  feed: RunsFeed;
  tracker: WidgetTracker<MainAreaWidget<RunView>>;
  docManager: IDocumentManager | null;
  editorServices: IEditorServices | null;
  /** Make the tab's toolbar (the plugin adds its command buttons). */
  decorate?: (widget: MainAreaWidget<RunView>) => void;
}

export class RunsController {
  readonly model = new RunsModel();
  readonly api: RunsApi;
  readonly feed: RunsFeed;
  private readonly options: ControllerOptions;
  private generation = 0;
  private countsTimer: ReturnType<typeof setTimeout> | null = null;
  private changesSinceCounts = 0;
  private _loading = false;
  private _loadError = '';
  private _journals: string[] = [];
  private onLoading: (loading: boolean, error: string) => void = () => undefined;
  private onJournals: (journals: string[]) => void = () => undefined;

  constructor(options: ControllerOptions) {
    this.options = options;
    this.api = options.api;
    this.feed = options.feed;
    this.feed.runChanged.connect(this.onFeedRun, this);
    this.feed.reload.connect(this.onFeedReload, this);
  }

  get loading(): boolean {
    return this._loading;
  }

  /** Tell the panel when loading starts and ends, and the journals served. */
  watch(onLoading: (loading: boolean, error: string) => void, onJournals: (journals: string[]) => void): void {
    this.onLoading = onLoading;
    this.onJournals = onJournals;
    onLoading(this._loading, this._loadError);
    onJournals(this._journals);
  }

  // -- the list ------------------------------------------------------------------------------

  /** Load the first page for the current filters (a newer call wins over an older one still running). */
  async reload(): Promise<void> {
    const generation = ++this.generation;
    this.setLoading(true, '');
    try {
      const page = await this.api.listRuns(this.model.query());
      if (generation === this.generation) {
        this.model.applyPage(page);
        this.setLoading(false, '');
      }
    } catch (err) {
      if (generation === this.generation) {
        this.setLoading(false, `The runs could not be loaded: ${errorText(err)}`);
      }
    }
  }

  async loadMore(): Promise<void> {
    if (!this.model.hasMore) {
      return;
    }
    const generation = this.generation;
    this.setLoading(true, '');
    try {
      const page = await this.api.listRuns(this.model.query(true));
      if (generation === this.generation) {
        this.model.applyPage(page, true);
        this.setLoading(false, '');
      }
    } catch (err) {
      if (generation === this.generation) {
        this.setLoading(false, `More runs could not be loaded: ${errorText(err)}`);
      }
    }
  }

  async loadJournals(): Promise<void> {
    try {
      const list = await this.api.journals();
      this._journals = list.journals.map(j => j.journal);
      this.onJournals(this._journals);
    } catch {
      // The listing says what is wrong; the journal filter just stays as it was.
    }
  }

  private setLoading(loading: boolean, error: string): void {
    this._loading = loading;
    this._loadError = error;
    this.onLoading(loading, error);
  }

  private onFeedRun(_: RunsFeed, change: FeedRun): void {
    const run = { ...change.run, journal: change.journal };
    if (this.model.applyRun(run)) {
      this.changesSinceCounts += 1;
      this.scheduleCounts();
    }
  }

  private onFeedReload(_: RunsFeed, reason: ReloadReason): void {
    if (reason !== 'reset') {
      void this.loadJournals();
    }
    void this.reload();
  }

  /** Ask for the counts and total again soon (a status moved, or a run not listed changed). */
  private scheduleCounts(): void {
    if (this.countsTimer !== null) {
      return;
    }
    this.countsTimer = setTimeout(() => {
      this.countsTimer = null;
      void this.refreshCounts();
    }, COUNTS_DELAY_MS);
  }

  private async refreshCounts(): Promise<void> {
    const generation = this.generation;
    const before = this.changesSinceCounts;
    try {
      const page = await this.api.listRuns(this.model.query(false, 1));
      if (generation === this.generation) {
        this.model.applyTotals(page);
      }
    } catch {
      return; // the next change or reload asks again
    }
    if (this.changesSinceCounts !== before) {
      this.scheduleCounts(); // something moved while asking: the answer may predate it
    }
  }

  // -- finding runs --------------------------------------------------------------------------

  /** A run of the list (or the selected one when none is named). */
  summary(ref?: Partial<RunRef>): RunSummary | undefined {
    if (ref?.run_id && ref.journal) {
      return this.model.find(runKey(ref.journal, ref.run_id));
    }
    const selected = this.model.selected;
    return selected ? this.model.find(selected) : undefined;
  }

  /** The run named by a command's arguments, else the one selected in the list. */
  resolve(args: Partial<RunRef>): RunRef | null {
    if (typeof args.run_id === 'string' && args.run_id && typeof args.journal === 'string') {
      return { run_id: args.run_id, journal: args.journal };
    }
    const run = this.summary();
    return run ? { run_id: run.run_id, journal: run.journal } : null;
  }

  /** The run's status, from its open tab if there is one, else from the list. */
  status(ref: RunRef): string | null {
    const view = this.findView(ref);
    return view?.content.status ?? this.summary(ref)?.status ?? null;
  }

  /** Where the run came from: its notebook and cell, when known. */
  origin(ref: RunRef): { notebook: string; cell_id: string | null } | null {
    const run = this.summary(ref);
    return run?.notebook ? { notebook: run.notebook, cell_id: run.cell_id } : null;
  }

  findView(ref: RunRef): MainAreaWidget<RunView> | undefined {
    return this.options.tracker.find(w => w.content.run.run_id === ref.run_id && w.content.run.journal === ref.journal);
  }

  // -- actions -------------------------------------------------------------------------------

  /** What a row's button does. */
  act(action: RowAction, run: RunSummary): void {
    const ref = { run_id: run.run_id, journal: run.journal };
    switch (action) {
      case 'open':
        void this.openRun(ref);
        break;
      case 'cancel':
        void this.cancel(ref);
        break;
      case 'resume':
        void this.resume(ref);
        break;
      case 'send-event':
        void this.sendEvent(ref);
        break;
      case 'go-to-cell':
        void this.goToCell(ref);
        break;
    }
  }

  /** Open the run's timeline in a main-area tab (or bring its tab forward). */
  async openRun(ref: RunRef): Promise<MainAreaWidget<RunView>> {
    const { app, tracker } = this.options;
    let widget = this.findView(ref);
    if (!widget) {
      const content = new RunView({
        api: this.api,
        feed: this.feed,
        run: ref,
        act: (run, message, view) => this.timelineAction(run, message, view),
      });
      widget = new MainAreaWidget({ content });
      widget.id = `nbdurable-run-${Math.random().toString(36).slice(2, 10)}`;
      widget.addClass('nbd-sb-runtab');
      widget.title.icon = runsIcon;
      widget.title.closable = true;
      this.options.decorate?.(widget);
      const main = widget;
      content.title.changed.connect(() => {
        main.title.label = content.title.label;
        main.title.caption = content.title.caption;
      });
      main.title.label = content.title.label;
      void tracker.add(widget);
      app.shell.add(widget, 'main', { mode: 'tab-after' });
      if (!widget.isAttached) {
        // Notebook 7: a page's main area holds its one document; the timeline goes in the panel below it.
        app.shell.add(widget, 'down');
      }
      await content.refresh();
    }
    app.shell.activateById(widget.id);
    return widget;
  }

  /** Cancel after the user confirms. */
  async cancel(ref: RunRef): Promise<ActionOutcome> {
    const run = this.summary(ref);
    const title = run ? runTitle(run) : (this.findView(ref)?.content.snapshot?.run?.function_id ?? 'run');
    if (!(await confirmCancel(ref.run_id, String(title)))) {
      return { ok: true, message: '' };
    }
    try {
      const result = await this.api.cancel(ref.run_id, ref.journal);
      this.refreshView(ref);
      return this.done(`Run ${ref.run_id} ${result.status === 'cancelled' ? 'cancelled' : result.status}.`);
    } catch (err) {
      return this.failed('Could not cancel the run', err);
    }
  }

  async resume(ref: RunRef): Promise<ActionOutcome> {
    try {
      await this.api.resume(ref.run_id, ref.journal);
      this.refreshView(ref);
      return this.done(`Run ${ref.run_id} resumed in the Jupyter server.`);
    } catch (err) {
      return this.failed('Could not resume the run', err, ref);
    }
  }

  /** Rerun from a step (asked for when not given); the new run's timeline opens. */
  async rerun(ref: RunRef, fromStep?: string | null): Promise<ActionOutcome> {
    let step = fromStep ?? null;
    if (!step) {
      const steps = await this.stepChoices(ref);
      if (steps.length === 0) {
        return this.failed('Nothing to rerun', new Error(`run ${ref.run_id} has no steps to rerun from`));
      }
      step = await askRerunStep(ref.run_id, steps, this.summary(ref)?.error?.step_id ?? null);
      if (!step) {
        return { ok: true, message: '' };
      }
    }
    try {
      const result = await this.api.rerun(ref.run_id, step, ref.journal);
      void this.openRun({ run_id: result.run_id, journal: result.journal });
      return this.done(`Rerunning ${ref.run_id} from ${step} as ${result.run_id}.`);
    } catch (err) {
      return this.failed('Could not rerun the run', err, ref);
    }
  }

  /** Compose and send an event in the JSON editor, prefilled with what the run waits for. */
  async sendEvent(ref: RunRef | null): Promise<ActionOutcome> {
    let initial: Parameters<typeof askEvent>[0] = { name: '' };
    if (ref) {
      const snapshot = await this.snapshotOf(ref);
      const waiting = snapshot?.run?.waiting_for;
      if (waiting) {
        initial = {
          name: String(waiting.event ?? ''),
          data: waiting.suggested_data ?? {},
          waitingText: `Run ${ref.run_id} waits for ${String(waiting.event ?? 'an event')}${
            waiting.if_exp ? ` where ${String(waiting.if_exp)}` : ''
          }.`,
        };
      }
    }
    const value = await askEvent(initial, this.options.editorServices);
    if (value === null) {
      return { ok: true, message: '' };
    }
    return this.send(ref, value.name, value.data, value.id);
  }

  /** Send an event as typed (the timeline's approve button already checked the JSON). */
  async send(ref: RunRef | null, name: string, data: Record<string, unknown>, id: string | null = null): Promise<ActionOutcome> {
    try {
      const result = await this.api.sendEvent({ name, data, id }, ref?.journal ?? this.model.filters.journal);
      if (ref) {
        this.refreshView(ref);
      }
      const started = result.runs.length > 0 ? `; started ${result.runs.join(', ')}` : '';
      return this.done(result.duplicate ? `Event ${name} was already sent with this id.` : `Sent ${name}${started}.`);
    } catch (err) {
      return this.failed('Could not send the event', err);
    }
  }

  /** Open the notebook that started the run and select its cell. */
  async goToCell(ref: RunRef, origin = this.origin(ref)): Promise<ActionOutcome> {
    const docManager = this.options.docManager;
    if (!origin) {
      return this.failed('No notebook to go to', new Error(`run ${ref.run_id} was not started from a notebook this server knows`));
    }
    if (!docManager) {
      return this.failed('No notebook to go to', new Error('this application cannot open notebooks'));
    }
    const outcome = await openCell(this.options.app, docManager, origin.notebook, origin.cell_id);
    if (outcome === 'no-cell') {
      return this.done(
        origin.cell_id
          ? `Opened ${origin.notebook}; its cell ${origin.cell_id} is no longer there.`
          : `Opened ${origin.notebook} (the run did not record its cell).`,
        'info',
      );
    }
    if (outcome === 'not-a-notebook') {
      return this.failed('Could not open the notebook', new Error(`${origin.notebook} could not be opened as a notebook`));
    }
    return { ok: true, message: '' };
  }

  private async timelineAction(ref: RunRef, message: ActionMessage, view: RunView): Promise<ActionOutcome> {
    switch (message.action) {
      case 'cancel':
        return this.cancel(ref);
      case 'rerun':
        return this.rerun(ref, message.step_id);
      case 'send_event': {
        const data = message.data;
        if (typeof data !== 'object' || data === null || Array.isArray(data)) {
          return { ok: false, message: 'The event data must be a JSON object, like {"approved": true}.' };
        }
        const outcome = await this.send(ref, message.event, data as Record<string, unknown>);
        void view.refresh();
        return outcome;
      }
    }
  }

  private async snapshotOf(ref: RunRef): Promise<Snapshot | null> {
    const view = this.findView(ref);
    if (view?.content.snapshot) {
      return view.content.snapshot;
    }
    try {
      return await this.api.getRun(ref.run_id, ref.journal);
    } catch {
      return null;
    }
  }

  private async stepChoices(ref: RunRef): Promise<StepChoice[]> {
    const snapshot = await this.snapshotOf(ref);
    const steps = Array.isArray(snapshot?.steps) ? snapshot.steps : [];
    return steps
      .filter(s => typeof s?.step_id === 'string' && s.step_id)
      .map((s, i) => ({
        step_id: String(s.step_id),
        label: `${typeof s.position === 'number' ? s.position + 1 : i + 1}. ${String(s.name ?? s.step_id)} (${String(s.status ?? '')})`,
      }));
  }

  private refreshView(ref: RunRef): void {
    void this.findView(ref)?.content.refresh();
  }

  private done(message: string, kind: 'success' | 'info' = 'success'): ActionOutcome {
    if (kind === 'success') {
      Notification.success(message, { autoClose: 4000 });
    } else {
      Notification.info(message, { autoClose: 6000 });
    }
    return { ok: true, message };
  }

  private failed(title: string, err: unknown, ref?: RunRef): ActionOutcome {
    const message = errorText(err);
    void showActionError(title, err).then(goToCell => {
      const resumeIn = err instanceof ApiError ? err.resumeIn : null;
      if (goToCell && resumeIn?.notebook && ref) {
        void this.goToCell(ref, { notebook: resumeIn.notebook, cell_id: resumeIn.cell_id ?? null });
      }
    });
    return { ok: false, message };
  }

  /** Whether a run can still be cancelled. */
  static isActive(status: string | null): boolean {
    return status !== null && ACTIVE_STATUSES.has(status);
  }

  dispose(): void {
    if (this.countsTimer !== null) {
      clearTimeout(this.countsTimer);
    }
    this.feed.runChanged.disconnect(this.onFeedRun, this);
    this.feed.reload.disconnect(this.onFeedReload, this);
  }
}
