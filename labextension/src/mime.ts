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

import { TimelineView } from './renderer';
import { LIVE_SNAPSHOT_EVENT, MIME_TYPE, type Snapshot } from './types';

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
  private state: WidgetState = 'none';

  constructor(options: IRenderMime.IRendererOptions) {
    super();
    this.options = options;
    this.addClass('nbd-mime-output');
    this.staticHost = new Widget();
    this.staticHost.addClass('nbd-mime-static');
    this.view = new TimelineView(this.staticHost.node, { host: 'mime' });
    this.addWidget(this.staticHost);
    this.node.addEventListener(LIVE_SNAPSHOT_EVENT, this.onLiveSnapshot);
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
  }

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

  private fallBack(): void {
    this.state = 'gone';
    this.observer?.disconnect();
    this.observer = null;
    if (this.widgetRenderer !== null) {
      this.widgetRenderer.dispose();
      this.widgetRenderer = null;
    }
    this.showStatic();
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
