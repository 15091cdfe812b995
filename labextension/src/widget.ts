/**
 * The anywidget front end of `nbdurable.TimelineWidget`.
 *
 * anywidget loads this ES module from the widget's `_esm` trait, so it runs in
 * JupyterLab, Notebook 7, VS Code and Colab without a frontend extension. The
 * Python side syncs the `snapshot` trait; actions go back as custom messages.
 */

import type { AnyModel, Render, RenderProps } from '@anywidget/types';

import { TimelineView } from './renderer';
import {
  KERNEL_STOPPED,
  LIVE_SNAPSHOT_EVENT,
  type ActionMessage,
  type ActionResult,
  type RenderedMessage,
  type Snapshot,
} from './types';

/** The widget's synced state: `TimelineWidget`'s one trait. */
export interface WidgetState {
  snapshot: Snapshot;
}

/** The model as anywidget types it (`@anywidget/types`), for this widget's state. */
export type WidgetModel = AnyModel<WidgetState>;

/** What `render` reads of anywidget's render props: the model and the element. */
export type RenderContext = Pick<RenderProps<WidgetState>, 'model' | 'el'>;

function isActionResult(value: unknown): value is ActionResult {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'action_result' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

/** Draw the timeline in `el` and follow the model until the view is removed. */
export function render({ model, el }: RenderContext): () => void {
  const view = new TimelineView(el, {
    host: 'widget',
    live: true,
    onAction: (message: ActionMessage) => model.send(message),
  });
  const onChange = (): void => {
    const snapshot = model.get('snapshot');
    view.update(snapshot);
    // Lets nbdurable's JupyterLab renderer, when it hosts this view, save the latest state with the notebook.
    el.dispatchEvent(new CustomEvent(LIVE_SNAPSHOT_EVENT, { bubbles: true, detail: snapshot }));
  };
  const onMessage = (content: unknown): void => {
    if (isActionResult(content)) {
      view.setNotice(content.message, content.ok ? 'ok' : 'error');
    }
  };
  // The comm to the kernel closed or went dead (kernel restarted, died or shut down): nothing will update
  // this view or carry a click, so say so instead of ticking on and offering buttons that do nothing.
  const onCommLost = (): void => view.markStale(KERNEL_STOPPED);
  model.on('change:snapshot', onChange);
  model.on('msg:custom', onMessage);
  model.on('comm_live_update', onCommLost);
  model.on('comm:close', onCommLost);
  onChange();
  // Tells the kernel a front end draws the widget, so it need not refresh the static copy for viewers without widgets.
  model.send({ type: 'rendered' } satisfies RenderedMessage);
  return () => {
    model.off('change:snapshot', onChange);
    model.off('msg:custom', onMessage);
    model.off('comm_live_update', onCommLost);
    model.off('comm:close', onCommLost);
    view.dispose();
  };
}

const widget: { render: Render<WidgetState> } = { render };

export default widget;
