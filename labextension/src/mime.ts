/**
 * JupyterLab 4 MIME renderer for `application/vnd.nbdurable.timeline+json`.
 *
 * Draws a saved run snapshot with the same renderer as the live widget, so a
 * notebook reopened with no kernel shows the full timeline with expandable steps.
 *
 * A live timeline output carries both the widget view and the snapshot. This
 * renderer ranks above the widget renderer, hands the output to the widget
 * renderer of the same notebook when the widget is alive, and keeps the saved
 * snapshot on screen when it is not: a notebook saved mid-run and reopened
 * later shows the timeline instead of "Error displaying widget: model not found".
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import { isTerminal, num } from './format';
import { TimelineView } from './renderer';
import { KERNEL_STOPPED, LIVE_SNAPSHOT_EVENT, MIME_TYPE, RERUN_EVENT, type RerunRequest, type Snapshot } from './types';

export const WIDGET_VIEW_MIME_TYPE = 'application/vnd.jupyter.widget-view+json';

/** How often the live widget's latest snapshot is written into the output (and so into the saved file). */
export const STORE_INTERVAL_MS = 2000;

type ReadonlyPartialJSONObject = IRenderMime.IMimeModel['data'];

/** The part of JupyterLab's rendermime registry used to find the widget renderer. */
interface RegistryLike {
  getFactory(mimeType: string): IRenderMime.IRendererFactory | undefined;
}

function isRegistry(value: unknown): value is RegistryLike {
  return typeof value === 'object' && value !== null && typeof (value as RegistryLike).getFactory === 'function';
}

/** The rendermime registry of the output area (or notebook) this widget sits in, if any. */
export function findRegistry(widget: Widget): RegistryLike | null {
  for (let node: Widget | null = widget.parent; node !== null; node = node.parent) {
    const candidate = (node as unknown as { rendermime?: unknown }).rendermime;
    if (isRegistry(candidate)) {
      return candidate;
    }
  }
  return null;
}

/** The part of a Lumino signal used here. */
interface SignalLike<T> {
  connect(slot: (sender: unknown, args: T) => void, thisArg?: unknown): boolean;
  disconnect(slot: (sender: unknown, args: T) => void, thisArg?: unknown): boolean;
}

/** The part of JupyterLab's ISessionContext (the notebook's kernel) watched here. */
export interface SessionContextLike {
  statusChanged: SignalLike<string>;
  kernelChanged: SignalLike<unknown>;
}

/** The part of a document context used here: its save signal. */
interface DocumentContextLike {
  saveState: SignalLike<string>;
}

function hasSignal(value: unknown, name: string): boolean {
  const signal = (value as Record<string, unknown> | null)?.[name];
  return typeof signal === 'object' && signal !== null && typeof (signal as SignalLike<unknown>).connect === 'function';
}

/** The session context (kernel) of the notebook this widget sits in, if any. */
export function findSessionContext(widget: Widget): SessionContextLike | null {
  for (let node: Widget | null = widget.parent; node !== null; node = node.parent) {
    const candidate = (node as unknown as { sessionContext?: unknown }).sessionContext;
    if (hasSignal(candidate, 'statusChanged') && hasSignal(candidate, 'kernelChanged')) {
      return candidate as SessionContextLike;
    }
  }
  return null;
}

/** The document context (saving) of the notebook this widget sits in, if any. */
function findDocumentContext(widget: Widget): DocumentContextLike | null {
  for (let node: Widget | null = widget.parent; node !== null; node = node.parent) {
    const candidate = (node as unknown as { context?: unknown }).context;
    if (hasSignal(candidate, 'saveState')) {
      return candidate as DocumentContextLike;
    }
  }
  return null;
}

/** The parts of JupyterLab's notebook, cell and kernel used to run `%durable rerun` in a new cell. */
interface KernelLike {
  requestExecute(
    content: { code: string; silent?: boolean; store_history?: boolean; stop_on_error?: boolean },
    disposeOnDone?: boolean,
    metadata?: Record<string, unknown>,
  ): { done: Promise<{ content?: { execution_count?: number | null } }> };
}

interface CellLike {
  model: { id: string; type: string; executionCount: number | null };
  outputArea: { future: unknown };
}

interface NotebookLike {
  widgets: readonly unknown[];
  activeCellIndex: number;
  model: { sharedModel: { insertCell(index: number, cell: { cell_type: 'code'; source: string }): unknown } };
}

interface RerunPlace {
  notebook: NotebookLike;
  cell: unknown;
  session: SessionContextLike & { session?: { kernel?: KernelLike | null } | null };
}

/** Where this output sits: its code cell, the notebook holding it, and the notebook's kernel. */
export function findRerunPlace(widget: Widget): RerunPlace | null {
  let cell: unknown = null;
  let notebook: NotebookLike | null = null;
  for (let node: Widget | null = widget.parent; node !== null; node = node.parent) {
    const candidate = node as unknown as Partial<CellLike & NotebookLike>;
    if (cell === null && candidate.outputArea !== undefined && candidate.model?.type === 'code') {
      cell = node;
    }
    if (notebook === null && Array.isArray(candidate.widgets) && typeof candidate.model?.sharedModel?.insertCell === 'function') {
      notebook = node as unknown as NotebookLike;
    }
  }
  const session = findSessionContext(widget) as RerunPlace['session'] | null;
  return cell !== null && notebook !== null && session !== null ? { notebook, cell, session } : null;
}

/** A word for `%durable` (shlex rules): as it is when safe, else in single quotes. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./#~-]+$/.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

/** The cell "Rerun from this step" adds below the run's cell: what the server's REST API also tells to run. */
export function rerunCode(request: RerunRequest): string {
  return `%durable rerun ${shellQuote(request.run_id)} --from ${shellQuote(request.step_id)}`;
}

/** Kernel statuses after which a widget's comm is gone for good. */
const KERNEL_LOST_STATUSES = new Set(['restarting', 'autorestarting', 'dead', 'terminating']);

/**
 * The snapshot as of `at` (epoch seconds): a live snapshot received at `receivedAt` with its `now`
 * moved on by the time since, so a copy saved during a sleep or a wait says how long it has been.
 */
export function stampSnapshot(snapshot: Snapshot, receivedAt: number, at: number): Snapshot {
  const run = snapshot.run;
  const now = num(run?.now);
  if (!run || now === null || isTerminal(snapshot)) {
    return snapshot;
  }
  return { ...snapshot, run: { ...run, now: now + Math.max(0, at - receivedAt) } };
}

type WidgetState = 'none' | 'pending' | 'live' | 'gone';

export class TimelineRenderer extends Panel implements IRenderMime.IRenderer {
  private readonly options: IRenderMime.IRendererOptions;
  private readonly staticHost: Widget;
  private readonly view: TimelineView;
  private model: IRenderMime.IMimeModel | null = null;
  private widgetRenderer: (IRenderMime.IRenderer & Panel) | null = null;
  private observer: MutationObserver | null = null;
  private revealTimer: ReturnType<typeof setTimeout> | null = null;
  private storeTimer: ReturnType<typeof setTimeout> | null = null;
  private liveSnapshot: Snapshot | null = null;
  /** The latest snapshot the live widget drew, and when it came (epoch seconds). */
  private latestLive: { snapshot: Snapshot; receivedAt: number } | null = null;
  private state: WidgetState = 'none';
  private session: SessionContextLike | null = null;
  private documentContext: DocumentContextLike | null = null;

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.options = options;
    this.addClass('nbd-mime-output');
    this.staticHost = new Widget();
    this.staticHost.addClass('nbd-mime-static');
    this.view = new TimelineView(this.staticHost.node, {
      host: 'mime',
      canRerunHere: () => this.isAttached && findRerunPlace(this) !== null,
    });
    this.addWidget(this.staticHost);
    this.node.addEventListener(LIVE_SNAPSHOT_EVENT, this.onLiveSnapshot);
    this.node.addEventListener(RERUN_EVENT, this.onRerun);
  }

  /** Whether the live widget is shown ("live"), still loading ("pending"), unavailable ("gone") or absent. */
  get widgetState(): WidgetState {
    return this.state;
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    this.model = model;
    this.view.update(model.data[MIME_TYPE] as Snapshot);
    const wantsWidget = Boolean(model.trusted && model.data[WIDGET_VIEW_MIME_TYPE]);
    if (!wantsWidget) {
      // The run ended and the kernel sent the final bundle: a live copy queued earlier must not
      // overwrite it (JupyterLab reuses this renderer for the update).
      this.cancelLiveStore();
      this.dropWidget();
      this.showStatic();
      return Promise.resolve();
    }
    if (this.state === 'none') {
      this.state = 'pending';
      // Briefly hide the snapshot so a live widget does not flash the static copy first.
      this.staticHost.hide();
      this.revealTimer = setTimeout(() => {
        if (this.state !== 'live') {
          this.staticHost.show();
        }
      }, 800);
    }
    this.tryDelegate();
    return Promise.resolve();
  }

  protected onAfterAttach(msg: Parameters<Panel['processMessage']>[0]): void {
    super.onAfterAttach(msg);
    this.tryDelegate();
    this.view.refresh(); // now in a notebook: its steps can offer "Rerun from this step"
  }

  /**
   * "Rerun from this step" (in the saved view or the live widget): add a cell below this output's
   * cell running `%durable rerun RUN --from STEP` and run it, so the new run's timeline shows below,
   * in the notebook, saved with it, whatever became of the widget.
   */
  private readonly onRerun = (event: Event): void => {
    const detail = (event as CustomEvent<unknown>).detail as Partial<RerunRequest> | null;
    const place = findRerunPlace(this);
    if (place === null || typeof detail?.run_id !== 'string' || typeof detail.step_id !== 'string') {
      return; // not in a notebook: the live widget asks its kernel instead
    }
    event.preventDefault();
    const code = rerunCode({ run_id: detail.run_id, step_id: detail.step_id });
    const index = place.notebook.widgets.indexOf(place.cell) + 1;
    place.notebook.model.sharedModel.insertCell(index, { cell_type: 'code', source: code });
    const cell = place.notebook.widgets[index] as CellLike | undefined;
    place.notebook.activeCellIndex = index;
    const kernel = place.session.session?.kernel;
    if (!kernel || !cell || typeof cell.outputArea !== 'object') {
      return; // no kernel yet: the cell is there to run once the set-up cells have run
    }
    // What JupyterLab's CodeCell.execute does: the reply's outputs go to the new cell's output area.
    const future = kernel.requestExecute(
      { code, silent: false, store_history: true, stop_on_error: true },
      false,
      { cellId: cell.model.id },
    );
    cell.outputArea.future = future;
    void future.done.then(reply => {
      cell.model.executionCount = reply.content?.execution_count ?? null;
    });
  };

  /**
   * Keep the output's saved snapshot up to date with the live widget (at most every
   * STORE_INTERVAL_MS), so a notebook saved mid-run reopens on the latest state.
   */
  private readonly onLiveSnapshot = (event: Event): void => {
    const detail = (event as CustomEvent<unknown>).detail;
    if (typeof detail !== 'object' || detail === null) {
      return;
    }
    this.liveSnapshot = detail as Snapshot;
    this.latestLive = { snapshot: detail as Snapshot, receivedAt: Date.now() / 1000 };
    if (this.storeTimer === null) {
      this.storeTimer = setTimeout(() => this.storeLiveSnapshot(), STORE_INTERVAL_MS);
    }
  };

  private cancelLiveStore(): void {
    if (this.storeTimer !== null) {
      clearTimeout(this.storeTimer);
      this.storeTimer = null;
    }
    this.liveSnapshot = null;
  }

  private storeLiveSnapshot(): void {
    this.storeTimer = null;
    const model = this.model;
    const snapshot = this.liveSnapshot;
    this.liveSnapshot = null;
    if (model === null || snapshot === null || this.isDisposed) {
      return;
    }
    if (!model.data[WIDGET_VIEW_MIME_TYPE]) {
      return; // the output is final (no widget any more): never write a live copy over it
    }
    if (JSON.stringify(model.data[MIME_TYPE]) === JSON.stringify(snapshot)) {
      return;
    }
    model.setData({ data: { ...model.data, [MIME_TYPE]: snapshot as unknown as ReadonlyPartialJSONObject } });
  }

  /** Hand the output to the notebook's widget renderer once we know where we are. */
  private tryDelegate(): void {
    if (this.state !== 'pending' || this.widgetRenderer !== null || this.model === null) {
      return;
    }
    const registry = findRegistry(this);
    if (registry === null) {
      if (this.isAttached) {
        this.fallBack();
      }
      return;
    }
    const factory = registry.getFactory(WIDGET_VIEW_MIME_TYPE);
    if (!factory) {
      this.fallBack();
      return;
    }
    const renderer = factory.createRenderer({ ...this.options, mimeType: WIDGET_VIEW_MIME_TYPE });
    if (!(renderer instanceof Panel)) {
      renderer.dispose();
      this.fallBack();
      return;
    }
    const widgetRenderer = renderer as IRenderMime.IRenderer & Panel;
    this.widgetRenderer = widgetRenderer;
    this.watchKernel();
    widgetRenderer.hide();
    this.addWidget(widgetRenderer);
    this.observer = new MutationObserver(() => this.checkWidget());
    this.observer.observe(widgetRenderer.node, { childList: true, characterData: true, subtree: true });
    widgetRenderer
      .renderModel(this.model)
      .then(() => this.checkWidget())
      .catch(() => this.fallBack());
  }

  /** Show the widget once it has a view; give up on it once the widget manager says it is gone. */
  private checkWidget(): void {
    const renderer = this.widgetRenderer;
    if (renderer === null || this.isDisposed) {
      return;
    }
    if (renderer.widgets.length > 0) {
      if (this.state !== 'live') {
        this.state = 'live';
        this.clearRevealTimer();
        this.staticHost.hide();
        renderer.show();
      }
      return;
    }
    // A view that went away (widget closed), or a widget manager that says the model is gone.
    const text = renderer.node.textContent ?? '';
    if (this.state === 'live' || text.startsWith('Error displaying widget')) {
      this.fallBack();
    }
  }

  /**
   * Show the saved snapshot instead of the widget. A run that had not ended when the widget went
   * away (its kernel stopped, or the notebook was reopened without it) is shown as it was last
   * seen, clock stopped, saying so: nothing updates it any more.
   */
  private fallBack(): void {
    const wasLive = this.state === 'live' || this.state === 'pending';
    this.state = 'gone';
    this.dropWidget();
    const model = this.model;
    if (wasLive && model !== null && model.data[WIDGET_VIEW_MIME_TYPE]) {
      const latest = this.latestLive;
      const shown = latest !== null ? stampSnapshot(latest.snapshot, latest.receivedAt, Date.now() / 1000) : null;
      if (shown !== null) {
        this.view.update(shown);
      }
      const snapshot = shown ?? (model.data[MIME_TYPE] as Snapshot);
      if (!isTerminal(snapshot ?? {})) {
        this.view.markStale(KERNEL_STOPPED);
        if (shown !== null) {
          // The saved copy says when it was last seen, not when the last update came.
          this.cancelLiveStore();
          this.writeSnapshot(shown);
        }
      }
    }
    this.showStatic();
  }

  private dropWidget(): void {
    this.observer?.disconnect();
    this.observer = null;
    this.unwatchKernel();
    if (this.widgetRenderer !== null) {
      this.widgetRenderer.dispose();
      this.widgetRenderer = null;
    }
  }

  private writeSnapshot(snapshot: Snapshot): void {
    const model = this.model;
    if (model === null || this.isDisposed || JSON.stringify(model.data[MIME_TYPE]) === JSON.stringify(snapshot)) {
      return;
    }
    model.setData({ data: { ...model.data, [MIME_TYPE]: snapshot as unknown as ReadonlyPartialJSONObject } });
  }

  /** Follow the notebook's kernel and saves while a live widget is shown. */
  private watchKernel(): void {
    if (this.session === null) {
      this.session = findSessionContext(this);
      this.session?.statusChanged.connect(this.onKernelStatus, this);
      this.session?.kernelChanged.connect(this.onKernelChanged, this);
    }
    if (this.documentContext === null) {
      this.documentContext = findDocumentContext(this);
      this.documentContext?.saveState.connect(this.onSaveState, this);
    }
  }

  private unwatchKernel(): void {
    this.session?.statusChanged.disconnect(this.onKernelStatus, this);
    this.session?.kernelChanged.disconnect(this.onKernelChanged, this);
    this.session = null;
    this.documentContext?.saveState.disconnect(this.onSaveState, this);
    this.documentContext = null;
  }

  private onKernelStatus(_sender: unknown, status: string): void {
    if (KERNEL_LOST_STATUSES.has(status)) {
      this.fallBack();
    }
  }

  private onKernelChanged(): void {
    // Another kernel (or none): the widget's comm belonged to the old one.
    this.fallBack();
  }

  /** Just before the notebook is saved: write the live state as of now, so the file does not lie about the time. */
  private onSaveState(_sender: unknown, state: string): void {
    const latest = this.latestLive;
    if (state !== 'started' || this.state !== 'live' || latest === null || isTerminal(latest.snapshot)) {
      return;
    }
    const model = this.model;
    if (model === null || !model.data[WIDGET_VIEW_MIME_TYPE]) {
      return;
    }
    this.writeSnapshot(stampSnapshot(latest.snapshot, latest.receivedAt, Date.now() / 1000));
  }

  private showStatic(): void {
    this.clearRevealTimer();
    this.staticHost.show();
  }

  private clearRevealTimer(): void {
    if (this.revealTimer !== null) {
      clearTimeout(this.revealTimer);
      this.revealTimer = null;
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.clearRevealTimer();
    if (this.storeTimer !== null) {
      clearTimeout(this.storeTimer);
      this.storeTimer = null;
    }
    this.node.removeEventListener(LIVE_SNAPSHOT_EVENT, this.onLiveSnapshot);
    this.node.removeEventListener(RERUN_EVENT, this.onRerun);
    this.unwatchKernel();
    this.observer?.disconnect();
    this.view.dispose();
    super.dispose();
  }
}

export const rendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [MIME_TYPE],
  // Below the widget renderer's -10, so this renderer decides between the live widget and the snapshot.
  defaultRank: -20,
  createRenderer: options => new TimelineRenderer(options),
};

const extension: IRenderMime.IExtension = {
  id: 'nbdurable:timeline-renderer',
  description: 'Renders nbdurable run timelines, live or saved in notebook outputs.',
  rendererFactory,
  rank: -20,
  dataType: 'json',
};

export default extension;
