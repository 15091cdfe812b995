/**
 * Jump to the notebook cell that started a run: open (or reveal) the notebook, then select
 * the cell with that id and scroll it into view.
 *
 * In Notebook 7 a page holds one document, so another notebook opens in a new browser tab
 * at `/notebooks/<path>#cell-id=<id>`; this extension, loaded in that page, reads the
 * fragment and selects the cell (`revealCellFromLocation`).
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { Widget } from '@lumino/widgets';

export const CELL_FRAGMENT = 'cell-id=';

/** JupyterLab's main area takes many documents; Notebook 7's takes one per page. */
export function isSingleDocumentApp(app: JupyterFrontEnd): boolean {
  return app.name === 'Jupyter Notebook';
}

function asNotebook(widget: Widget | null | undefined): NotebookPanel | null {
  const candidate = widget as unknown as Partial<NotebookPanel> | null | undefined;
  return candidate && candidate.content && typeof (candidate.content as { activeCellIndex?: unknown }).activeCellIndex === 'number'
    ? (candidate as NotebookPanel)
    : null;
}

/** Select the cell with this id in an open notebook and scroll to it. False if no cell has it. */
export async function revealCell(panel: NotebookPanel, cellId: string | null): Promise<boolean> {
  await panel.context.ready;
  await panel.revealed;
  const notebook = panel.content;
  if (!cellId) {
    return false;
  }
  const index = notebook.widgets.findIndex(cell => cell.model.id === cellId);
  if (index < 0) {
    return false;
  }
  notebook.deselectAll();
  notebook.activeCellIndex = index;
  notebook.mode = 'command';
  await notebook.scrollToCell(notebook.widgets[index], 'center');
  notebook.activeCell?.node.focus();
  return true;
}

export type OpenCellOutcome = 'revealed' | 'no-cell' | 'new-tab' | 'not-a-notebook';

/** Open the notebook at `path` (relative to the server's root) and go to the cell `cellId`. */
export async function openCell(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  path: string,
  cellId: string | null,
): Promise<OpenCellOutcome> {
  const existing = docManager.findWidget(path);
  if (!existing && isSingleDocumentApp(app) && app.shell.currentWidget) {
    const url = URLExt.join(PageConfig.getBaseUrl(), 'notebooks', URLExt.encodeParts(path));
    window.open(cellId ? `${url}#${CELL_FRAGMENT}${encodeURIComponent(cellId)}` : url, '_blank', 'noopener');
    return 'new-tab';
  }
  const widget = existing ?? docManager.openOrReveal(path);
  if (!widget) {
    return 'not-a-notebook';
  }
  app.shell.activateById(widget.id);
  const panel = asNotebook(widget);
  if (panel === null) {
    return 'not-a-notebook';
  }
  return (await revealCell(panel, cellId)) ? 'revealed' : 'no-cell';
}

/** In a page opened by `openCell` (Notebook 7), go to the cell its URL fragment names. */
export async function revealCellFromLocation(app: JupyterFrontEnd): Promise<boolean> {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash.startsWith(CELL_FRAGMENT)) {
    return false;
  }
  const cellId = decodeURIComponent(hash.slice(CELL_FRAGMENT.length));
  await app.restored;
  // The page's notebook is added once its file is loaded, which may come after `restored`.
  for (let waited = 0; waited < 60_000; waited += 250) {
    const panel = asNotebook(app.shell.currentWidget);
    if (panel !== null) {
      return revealCell(panel, cellId);
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  return false;
}
