import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Panel, Widget } from '@lumino/widgets';

import extension, {
  STORE_INTERVAL_MS,
  TimelineRenderer,
  WIDGET_VIEW_MIME_TYPE,
  rendererFactory,
  rerunCode,
  shellQuote,
  stampSnapshot,
} from '../src/mime';
import { LIVE_SNAPSHOT_EVENT, MIME_TYPE, type Snapshot } from '../src/types';
import { T0, sampleSnapshot } from './fixtures';

type Mode = 'live' | 'gone' | 'loading';

/** Stands in for ipywidgets' WidgetRenderer: a Panel that shows a view, an error, or keeps loading. */
class FakeWidgetRenderer extends Panel implements IRenderMime.IRenderer {
  static created = 0;
  constructor(private readonly mode: Mode) {
    super();
    FakeWidgetRenderer.created += 1;
  }
  async renderModel(): Promise<void> {
    this.node.textContent = 'Loading widget...';
    if (this.mode === 'live') {
      this.node.textContent = '';
      const view = new Widget();
      view.node.className = 'fake-widget-view';
      this.addWidget(view);
    } else if (this.mode === 'gone') {
      this.node.textContent = 'Error displaying widget: model not found';
    }
  }
}

/** Stands in for JupyterLab's OutputArea: a parent widget that owns a rendermime registry. */
class FakeOutputArea extends Panel {
  readonly rendermime: { getFactory(mimeType: string): IRenderMime.IRendererFactory | undefined };
  constructor(mode: Mode | null) {
    super();
    this.rendermime = {
      getFactory: (mimeType: string) =>
        mode !== null && mimeType === WIDGET_VIEW_MIME_TYPE
          ? { safe: false, mimeTypes: [mimeType], createRenderer: () => new FakeWidgetRenderer(mode) }
          : undefined,
    };
  }
}

/** A Lumino-like signal: what the renderer connects to. */
class FakeSignal<T> {
  private slots: Array<[(sender: unknown, args: T) => void, unknown]> = [];
  connect(slot: (sender: unknown, args: T) => void, thisArg?: unknown): boolean {
    this.slots.push([slot, thisArg]);
    return true;
  }
  disconnect(slot: (sender: unknown, args: T) => void, thisArg?: unknown): boolean {
    this.slots = this.slots.filter(([s, t]) => s !== slot || t !== thisArg);
    return true;
  }
  emit(args: T): void {
    for (const [slot, thisArg] of [...this.slots]) {
      slot.call(thisArg, this, args);
    }
  }
  get count(): number {
    return this.slots.length;
  }
}

/** Stands in for a NotebookPanel: the kernel's session context and the document's save signal. */
class FakeNotebookPanel extends Panel {
  readonly sessionContext = { statusChanged: new FakeSignal<string>(), kernelChanged: new FakeSignal<unknown>() };
  readonly context = { saveState: new FakeSignal<string>() };
}

interface FakeModel extends IRenderMime.IMimeModel {
  setData: ReturnType<typeof vi.fn>;
}

function mimeModel(snapshot: Snapshot, options: { widget: boolean; trusted: boolean }): FakeModel {
  const data: Record<string, unknown> = { [MIME_TYPE]: snapshot };
  if (options.widget) {
    data[WIDGET_VIEW_MIME_TYPE] = { version_major: 2, version_minor: 0, model_id: 'abc' };
  }
  return { data, metadata: {}, trusted: options.trusted, setData: vi.fn() } as unknown as FakeModel;
}

const areas: Panel[] = [];

async function mount(mode: Mode | null, model: IRenderMime.IMimeModel): Promise<TimelineRenderer> {
  const area = new FakeOutputArea(mode);
  areas.push(area);
  Widget.attach(area, document.body);
  const renderer = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as IRenderMime.IRendererOptions) as TimelineRenderer;
  await renderer.renderModel(model); // JupyterLab renders first, then adds the renderer to the output area
  area.addWidget(renderer);
  await new Promise(resolve => setTimeout(resolve, 0));
  return renderer;
}

function staticHidden(renderer: TimelineRenderer): boolean {
  return renderer.node.querySelector('.nbd-mime-static')!.classList.contains('lm-mod-hidden');
}

afterEach(() => {
  while (areas.length > 0) {
    areas.pop()!.dispose();
  }
  vi.useRealTimers();
});

describe('JupyterLab MIME renderer', () => {
  it('registers a safe renderer ranked above the widget renderer', () => {
    expect(extension.id).toBe('nbdurable:timeline-renderer');
    expect(rendererFactory.mimeTypes).toEqual([MIME_TYPE]);
    expect(rendererFactory.safe).toBe(true);
    expect(rendererFactory.defaultRank).toBeLessThan(-10);
    expect(extension.dataType).toBe('json');
  });

  it('draws a saved snapshot with expandable steps and no actions', async () => {
    const renderer = await mount(null, mimeModel(sampleSnapshot(), { widget: false, trusted: false }));
    const node = renderer.node;
    expect(node.querySelector('.nbd-timeline')!.getAttribute('data-host')).toBe('mime');
    const steps = node.querySelectorAll<HTMLElement>('.nbd-step');
    expect(steps).toHaveLength(4);
    steps[1].querySelector<HTMLButtonElement>('button.nbd-row')!.click();
    expect(steps[1].querySelector<HTMLElement>('.nbd-detail')!.hidden).toBe(false);
    expect(node.querySelectorAll('button.nbd-send, button.nbd-cancel, button.nbd-rerun')).toHaveLength(0);
    expect(node.textContent).toContain('Waiting for event support/ticket.approved');
    expect(renderer.widgetState).toBe('none');
    expect(staticHidden(renderer)).toBe(false);
    renderer.dispose();
    expect(renderer.isDisposed).toBe(true);
  });

  it('hands a live output to the widget renderer and hides the snapshot', async () => {
    const renderer = await mount('live', mimeModel(sampleSnapshot(), { widget: true, trusted: true }));
    expect(renderer.widgetState).toBe('live');
    expect(renderer.node.querySelector('.fake-widget-view')).not.toBeNull();
    expect(staticHidden(renderer)).toBe(true);
  });

  it('shows the saved snapshot when the widget model is gone', async () => {
    const renderer = await mount('gone', mimeModel(sampleSnapshot(), { widget: true, trusted: true }));
    expect(renderer.widgetState).toBe('gone');
    expect(staticHidden(renderer)).toBe(false);
    expect(renderer.node.textContent).not.toContain('Error displaying widget');
    expect(renderer.node.querySelectorAll('.nbd-step')).toHaveLength(4);
  });

  it('shows the snapshot while the widget keeps loading', async () => {
    vi.useFakeTimers();
    const area = new FakeOutputArea('loading');
    areas.push(area);
    Widget.attach(area, document.body);
    const renderer = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as IRenderMime.IRendererOptions) as TimelineRenderer;
    await renderer.renderModel(mimeModel(sampleSnapshot(), { widget: true, trusted: true }));
    area.addWidget(renderer);
    expect(staticHidden(renderer)).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(renderer.widgetState).toBe('pending');
    expect(staticHidden(renderer)).toBe(false);
  });

  it('never hands an untrusted output to the widget renderer', async () => {
    const before = FakeWidgetRenderer.created;
    const renderer = await mount('live', mimeModel(sampleSnapshot(), { widget: true, trusted: false }));
    expect(FakeWidgetRenderer.created).toBe(before);
    expect(renderer.widgetState).toBe('none');
    expect(staticHidden(renderer)).toBe(false);
  });

  it('writes the live widget snapshot into the output, coalesced', async () => {
    const model = mimeModel(sampleSnapshot(), { widget: true, trusted: true });
    const renderer = await mount('live', model);
    vi.useFakeTimers();
    const view = renderer.node.querySelector('.fake-widget-view')!;
    const later = sampleSnapshot();
    later.run!.steps_done = 5;
    const latest = sampleSnapshot();
    latest.run!.steps_done = 6;
    view.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: later }));
    view.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: latest }));
    expect(model.setData).not.toHaveBeenCalled();
    vi.advanceTimersByTime(STORE_INTERVAL_MS);
    expect(model.setData).toHaveBeenCalledTimes(1);
    const stored = model.setData.mock.calls[0][0].data;
    expect(stored[MIME_TYPE].run.steps_done).toBe(6);
    expect(stored[WIDGET_VIEW_MIME_TYPE]).toEqual(model.data[WIDGET_VIEW_MIME_TYPE]);
    // the same snapshot again is not written twice
    view.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: sampleSnapshot() }));
    vi.advanceTimersByTime(STORE_INTERVAL_MS);
    expect(model.setData).toHaveBeenCalledTimes(1);
  });

  it('never writes a queued live snapshot over the final output of an ended run', async () => {
    const model = mimeModel(sampleSnapshot(), { widget: true, trusted: true });
    const renderer = await mount('live', model);
    vi.useFakeTimers();
    const view = renderer.node.querySelector('.fake-widget-view')!;
    const stale = sampleSnapshot();
    stale.run!.status = 'running';
    view.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: stale }));
    // The kernel replaces the output with the final bundle (no widget view); JupyterLab reuses the renderer.
    const done = sampleSnapshot();
    done.run!.status = 'completed';
    const final = mimeModel(done, { widget: false, trusted: true });
    await renderer.renderModel(final);
    vi.advanceTimersByTime(STORE_INTERVAL_MS * 2);
    expect(model.setData).not.toHaveBeenCalled();
    expect(final.setData).not.toHaveBeenCalled();
    expect(renderer.node.textContent).toContain('completed');
  });

  it('says the kernel stopped when it restarts under a live widget, and saves the state as of then', async () => {
    const notebook = new FakeNotebookPanel();
    areas.push(notebook);
    const area = new FakeOutputArea('live');
    notebook.addWidget(area);
    Widget.attach(notebook, document.body);
    const model = mimeModel(sampleSnapshot(), { widget: true, trusted: true });
    const renderer = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as IRenderMime.IRendererOptions) as TimelineRenderer;
    await renderer.renderModel(model);
    area.addWidget(renderer);
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(renderer.widgetState).toBe('live');
    expect(notebook.sessionContext.statusChanged.count).toBe(1);
    vi.useFakeTimers();
    vi.setSystemTime(new Date((T0 + 60) * 1000));
    const view = renderer.node.querySelector('.fake-widget-view')!;
    view.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: sampleSnapshot() }));
    // saving 30 s into a wait writes how long it has really been
    vi.setSystemTime(new Date((T0 + 90) * 1000));
    notebook.context.saveState.emit('started');
    expect(model.setData).toHaveBeenCalledTimes(1);
    expect(model.setData.mock.calls[0][0].data[MIME_TYPE].run.now).toBe(T0 + 90);
    vi.setSystemTime(new Date((T0 + 95) * 1000));
    notebook.sessionContext.statusChanged.emit('busy');
    expect(renderer.widgetState).toBe('live');
    notebook.sessionContext.statusChanged.emit('restarting');
    expect(renderer.widgetState).toBe('gone');
    expect(staticHidden(renderer)).toBe(false);
    const notice = renderer.node.querySelector<HTMLElement>('.nbd-notice')!;
    expect(notice.textContent).toBe('Kernel stopped: run the cell again to resume.');
    expect(renderer.node.querySelector('.nbd-stats')!.textContent).toContain('elapsed 1m 35s');
    expect(model.setData.mock.calls.at(-1)![0].data[MIME_TYPE].run.now).toBe(T0 + 95);
    expect(notebook.sessionContext.statusChanged.count).toBe(0);
    expect(notebook.context.saveState.count).toBe(0);
  });

  it('says the kernel stopped when a notebook saved mid-run reopens without its widget', async () => {
    const renderer = await mount('gone', mimeModel(sampleSnapshot(), { widget: true, trusted: true }));
    expect(renderer.node.querySelector('.nbd-notice')!.textContent).toBe('Kernel stopped: run the cell again to resume.');
    // an ended run's saved output says nothing of the kind
    const done = sampleSnapshot();
    done.run!.status = 'completed';
    const ended = await mount('gone', mimeModel(done, { widget: true, trusted: true }));
    expect(ended.node.querySelector<HTMLElement>('.nbd-notice')!.hidden).toBe(true);
  });

  it('reruns from a step of a finished run in a new cell below, running %durable rerun there', async () => {
    const executed: Array<{ code: string; metadata: unknown }> = [];
    const inserted: Array<{ index: number; source: string }> = [];
    const notebook = new FakeNotebookPanel();
    areas.push(notebook);
    const newCell = { model: { id: 'new-cell', type: 'code', executionCount: null as number | null }, outputArea: { future: null as unknown } };
    const cellWidget = new Panel();
    Object.assign(cellWidget, { model: { id: 'run-cell', type: 'code' }, outputArea: {} });
    const cells: unknown[] = [cellWidget];
    // A JupyterLab Notebook's `widgets` are its cells.
    Object.defineProperty(notebook, 'widgets', { get: () => cells });
    Object.assign(notebook, {
      activeCellIndex: 0,
      model: {
        sharedModel: {
          insertCell: (index: number, cell: { source: string }) => {
            inserted.push({ index, source: cell.source });
            cells.splice(index, 0, newCell);
          },
        },
      },
    });
    const future = { done: Promise.resolve({ content: { execution_count: 7 } }) };
    Object.assign(notebook.sessionContext, {
      session: {
        kernel: {
          requestExecute: (content: { code: string }, _dispose: boolean, metadata: unknown) => {
            executed.push({ code: content.code, metadata });
            return future;
          },
        },
      },
    });
    notebook.addWidget(cellWidget);
    const area = new FakeOutputArea(null);
    cellWidget.addWidget(area);
    Widget.attach(notebook, document.body);
    const done = sampleSnapshot();
    done.run!.status = 'completed';
    done.actions = { rerun: true, cancel: false, send_event: false };
    const renderer = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as IRenderMime.IRendererOptions) as TimelineRenderer;
    await renderer.renderModel(mimeModel(done, { widget: false, trusted: true }));
    area.addWidget(renderer);
    const step = renderer.node.querySelectorAll<HTMLElement>('.nbd-step')[1];
    step.querySelector<HTMLButtonElement>('button.nbd-row')!.click();
    step.querySelector<HTMLButtonElement>('button.nbd-rerun')!.click();
    expect(inserted).toEqual([{ index: 1, source: '%durable rerun run-1 --from plan' }]);
    expect(executed).toEqual([{ code: '%durable rerun run-1 --from plan', metadata: { cellId: 'new-cell' } }]);
    expect(newCell.outputArea.future).toBe(future);
    expect((notebook as unknown as { activeCellIndex: number }).activeCellIndex).toBe(1);
    await future.done;
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(newCell.model.executionCount).toBe(7);
    expect(renderer.node.querySelector('.nbd-notice')!.textContent).toBe('Rerunning run-1 from plan in a new cell below.');
  });

  it('offers no rerun where it cannot start one (a saved view outside a notebook)', async () => {
    const done = sampleSnapshot();
    done.run!.status = 'completed';
    done.actions = { rerun: true };
    const renderer = await mount(null, mimeModel(done, { widget: false, trusted: true }));
    renderer.node.querySelectorAll<HTMLElement>('.nbd-step')[1].querySelector<HTMLButtonElement>('button.nbd-row')!.click();
    expect(renderer.node.querySelectorAll('button.nbd-rerun')).toHaveLength(0);
  });

  it('quotes run and step ids as the magic parses them', () => {
    expect(shellQuote('demo-1~1')).toBe('demo-1~1');
    expect(shellQuote("it's a run")).toBe(`'it'"'"'s a run'`);
    expect(rerunCode({ run_id: 'langgraph:ticket 17', step_id: 'fetch-2' })).toBe("%durable rerun 'langgraph:ticket 17' --from fetch-2");
  });

  it('stamps a live snapshot with the time since it came, except an ended run', () => {
    const snap = sampleSnapshot();
    expect(stampSnapshot(snap, T0 + 60, T0 + 75).run!.now).toBe(T0 + 75);
    expect(snap.run!.now).toBe(T0 + 60);
    const done = sampleSnapshot();
    done.run!.status = 'failed';
    expect(stampSnapshot(done, T0 + 60, T0 + 75)).toBe(done);
  });

  it('falls back to the snapshot when the live view is closed', async () => {
    const renderer = await mount('live', mimeModel(sampleSnapshot(), { widget: true, trusted: true }));
    expect(renderer.widgetState).toBe('live');
    const widgetRenderer = renderer.widgets[1] as Panel;
    widgetRenderer.widgets[0].dispose();
    await new Promise(resolve => setTimeout(resolve, 0));
    expect(renderer.widgetState).toBe('gone');
    expect(staticHidden(renderer)).toBe(false);
  });
});
