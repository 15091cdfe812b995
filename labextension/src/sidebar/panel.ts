/**
 * The "Durable runs" side panel: search, status filters, the runs grouped by notebook.
 *
 * It draws a `RunsModel` and asks its host (`RunsPanel.IHost`) to load pages and act.
 * Rows are kept and updated in place, so focus survives the live updates. Keyboard:
 * the list is one tab stop (the active row, then its action buttons); arrow keys, Home
 * and End move between group headers and rows; Enter or Space opens a run's timeline
 * or folds a group; Left and Right fold and unfold.
 */

import { caretDownIcon, caretRightIcon, checkIcon, notebookIcon, refreshIcon, runIcon, stopIcon, type LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { h } from '../renderer';
import { ACTIVE_STATUSES, RESUMABLE_STATUSES, STATUSES, type RunSummary } from './api';
import type { FeedState } from './feed';
import { ago, detail, progress } from './format';
import { runKey, runTitle, type RunGroup, type RunsModel } from './model';

export type RowAction = 'open' | 'cancel' | 'resume' | 'send-event' | 'go-to-cell';

export namespace RunsPanel {
  export interface IHost {
    /** Ask for the first page again (filters changed, or a refresh). */
    reload(): void;
    /** Ask for the next page. */
    loadMore(): void;
    /** Act on a run. */
    act(action: RowAction, run: RunSummary): void;
  }
}

interface RowState {
  item: HTMLElement;
  open: HTMLButtonElement;
  actions: HTMLElement;
  signature: string;
  actionsSignature: string;
}

interface GroupState {
  node: HTMLElement;
  header: HTMLButtonElement;
  list: HTMLElement;
}

const REFRESH_CLOCK_MS = 30_000;

function iconButton(icon: LabIcon, label: string, action: RowAction): HTMLButtonElement {
  const button = h(document, 'button', {
    type: 'button',
    class: 'jp-Button jp-mod-minimal nbd-sb-action',
    'data-action': action,
    'aria-label': label,
    title: label,
  }) as HTMLButtonElement;
  button.appendChild(icon.element({ tag: 'span', className: 'nbd-sb-action-icon' }));
  return button;
}

export class RunsPanel extends Widget {
  private readonly model: RunsModel;
  private readonly host: RunsPanel.IHost;
  private readonly search: HTMLInputElement;
  private readonly chips: HTMLElement;
  private readonly journalSelect: HTMLSelectElement;
  private readonly statusLine: HTMLElement;
  private readonly feedLine: HTMLElement;
  private readonly listEl: HTMLElement;
  private readonly more: HTMLButtonElement;
  private readonly empty: HTMLElement;
  private readonly rows = new Map<string, RowState>();
  private readonly groups = new Map<string, GroupState>();
  private activeKey: string | null = null;
  private searchTimer: ReturnType<typeof setTimeout> | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private loading = false;
  private loadError = '';

  constructor(model: RunsModel, host: RunsPanel.IHost) {
    super();
    this.model = model;
    this.host = host;
    this.id = 'nbdurable-runs';
    this.addClass('nbd-sb');
    this.title.caption = 'Durable runs';
    const d = document;
    this.search = h(d, 'input', {
      type: 'search',
      class: 'jp-mod-styled nbd-sb-search',
      placeholder: 'Search runs',
      'aria-label': 'Search runs by id, function, reason, notebook or error',
      spellcheck: 'false',
      autocomplete: 'off',
    }) as HTMLInputElement;
    this.chips = h(d, 'div', { class: 'nbd-sb-chips', role: 'group', 'aria-label': 'Show runs by status' });
    this.journalSelect = h(d, 'select', {
      class: 'jp-mod-styled nbd-sb-journal',
      'aria-label': 'Journal',
      hidden: true,
    }) as HTMLSelectElement;
    const refresh = h(d, 'button', {
      type: 'button',
      class: 'jp-Button jp-mod-minimal nbd-sb-refresh',
      'aria-label': 'Reload the runs',
      title: 'Reload the runs',
    }) as HTMLButtonElement;
    refresh.appendChild(refreshIcon.element({ tag: 'span' }));
    this.statusLine = h(d, 'div', { class: 'nbd-sb-statusline', role: 'status', 'aria-live': 'polite' });
    this.feedLine = h(d, 'div', { class: 'nbd-sb-feed', 'data-state': 'connecting' });
    this.listEl = h(d, 'div', { class: 'nbd-sb-list', role: 'region', 'aria-label': 'Runs, by notebook' });
    this.empty = h(d, 'div', { class: 'nbd-sb-empty', hidden: true });
    this.more = h(d, 'button', { type: 'button', class: 'jp-Button jp-mod-styled jp-mod-reject nbd-sb-more', hidden: true }, [
      'Load more runs',
    ]) as HTMLButtonElement;
    this.node.append(
      h(d, 'div', { class: 'nbd-sb-head' }, [
        h(d, 'h2', { class: 'nbd-sb-title' }, ['Durable runs']),
        this.feedLine,
        refresh,
      ]),
      h(d, 'div', { class: 'nbd-sb-controls' }, [this.search, this.journalSelect, this.chips]),
      this.statusLine,
      this.listEl,
      this.empty,
      this.more,
    );
    this.search.addEventListener('input', () => this.onSearch());
    this.search.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this.search.value) {
        event.stopPropagation();
        this.search.value = '';
        this.onSearch(0);
      }
    });
    this.journalSelect.addEventListener('change', () => {
      if (this.model.setFilters({ journal: this.journalSelect.value || null })) {
        this.host.reload();
      }
    });
    this.chips.addEventListener('click', event => this.onChip(event));
    refresh.addEventListener('click', () => this.host.reload());
    this.more.addEventListener('click', () => this.host.loadMore());
    this.listEl.addEventListener('click', event => this.onListClick(event));
    this.listEl.addEventListener('keydown', event => this.onListKey(event));
    this.listEl.addEventListener('focusin', event => this.onFocusIn(event));
    this.listEl.addEventListener('contextmenu', event => this.onFocusIn(event));
    model.changed.connect(this.render, this);
    this.render();
  }

  /** Show whether the live feed is connected. */
  setFeedState(state: FeedState, error: string): void {
    const text: Record<FeedState, string> = {
      connecting: 'connecting…',
      live: 'live',
      reconnecting: 'reconnecting…',
      stopped: 'not live',
    };
    this.feedLine.setAttribute('data-state', state);
    this.feedLine.textContent = text[state];
    this.feedLine.title =
      state === 'live' ? 'Changes appear as they happen' : `Live updates paused${error ? `: ${error}` : ''}; retrying`;
  }

  /** The journals served, for the journal filter (shown when there are several). */
  setJournals(journals: string[]): void {
    const current = this.model.filters.journal;
    const d = document;
    this.journalSelect.replaceChildren(
      h(d, 'option', { value: '' }, ['All journals']),
      ...journals.map(j => h(d, 'option', { value: j }, [j])),
    );
    this.journalSelect.value = current ?? '';
    this.journalSelect.hidden = journals.length < 2 && current === null;
  }

  /** Say that a page is loading, or why it could not be loaded. */
  setLoading(loading: boolean, error = ''): void {
    this.loading = loading;
    this.loadError = error;
    this.node.toggleAttribute('data-loading', loading);
    this.renderStatus();
  }

  /** Put keyboard focus in the list (on the active row), or on the search box when the list is empty. */
  focusList(): void {
    const item = this.activeItem();
    (item ?? this.search).focus();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    if (this.searchTimer !== null) {
      clearTimeout(this.searchTimer);
    }
    this.stopClock();
    this.model.changed.disconnect(this.render, this);
    super.dispose();
  }

  protected onAfterShow(): void {
    this.render();
    this.clock ??= setInterval(() => this.render(), REFRESH_CLOCK_MS);
  }

  protected onAfterHide(): void {
    this.stopClock();
  }

  protected onActivateRequest(): void {
    this.focusList();
  }

  private stopClock(): void {
    if (this.clock !== null) {
      clearInterval(this.clock);
      this.clock = null;
    }
  }

  private onSearch(delay = 300): void {
    if (this.searchTimer !== null) {
      clearTimeout(this.searchTimer);
    }
    this.searchTimer = setTimeout(() => {
      this.searchTimer = null;
      if (this.model.setFilters({ text: this.search.value })) {
        this.host.reload();
      }
    }, delay);
  }

  private onChip(event: MouseEvent): void {
    const chip = (event.target as HTMLElement).closest<HTMLButtonElement>('button.nbd-sb-chip');
    if (!chip) {
      return;
    }
    const status = chip.dataset.status ?? '';
    const changed = status === '' ? this.model.setFilters({ statuses: new Set() }) : this.model.toggleStatus(status);
    if (changed) {
      this.host.reload();
    }
  }

  private runOf(target: EventTarget | null): RunSummary | undefined {
    const item = (target as HTMLElement | null)?.closest<HTMLElement>('.nbd-sb-run');
    return item?.dataset.key ? this.model.find(item.dataset.key) : undefined;
  }

  private onListClick(event: MouseEvent): void {
    const target = event.target as HTMLElement;
    const header = target.closest<HTMLButtonElement>('button.nbd-sb-group-header');
    if (header?.dataset.group) {
      this.model.toggleGroup(header.dataset.group);
      return;
    }
    const button = target.closest<HTMLButtonElement>('button[data-action]');
    const run = this.runOf(target);
    if (!button || !run) {
      return;
    }
    this.model.select(runKey(run.journal, run.run_id));
    this.host.act(button.dataset.action as RowAction, run);
  }

  private onFocusIn(event: Event): void {
    const item = (event.target as HTMLElement).closest<HTMLElement>('[data-nav]');
    if (!item) {
      return;
    }
    this.setActive(item.dataset.nav ?? null);
    const run = this.runOf(item);
    if (run) {
      this.model.select(runKey(run.journal, run.run_id));
    }
  }

  /** The focusable items in order: each group header, then its rows' open buttons if unfolded. */
  private navItems(): HTMLElement[] {
    return Array.from(this.listEl.querySelectorAll<HTMLElement>('[data-nav]')).filter(el => !el.closest('[hidden]'));
  }

  private activeItem(): HTMLElement | null {
    const items = this.navItems();
    return items.find(el => el.dataset.nav === this.activeKey) ?? items[0] ?? null;
  }

  private onListKey(event: KeyboardEvent): void {
    const target = event.target as HTMLElement;
    if (!target.matches('[data-nav]')) {
      return;
    }
    const items = this.navItems();
    const index = items.indexOf(target);
    let next: HTMLElement | undefined;
    const isHeader = target.classList.contains('nbd-sb-group-header');
    switch (event.key) {
      case 'ArrowDown':
        next = items[Math.min(index + 1, items.length - 1)];
        break;
      case 'ArrowUp':
        next = items[Math.max(index - 1, 0)];
        break;
      case 'Home':
        next = items[0];
        break;
      case 'End':
        next = items[items.length - 1];
        break;
      case 'ArrowRight':
      case 'ArrowLeft': {
        const groupKey = isHeader ? target.dataset.group : target.closest<HTMLElement>('.nbd-sb-group')?.dataset.group;
        if (!groupKey) {
          return;
        }
        const folded = this.model.isCollapsed(groupKey);
        if (isHeader && (event.key === 'ArrowRight') === folded) {
          this.model.toggleGroup(groupKey);
        } else if (!isHeader && event.key === 'ArrowLeft') {
          next = this.groups.get(groupKey)?.header;
        }
        break;
      }
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
    if (next) {
      this.setActive(next.dataset.nav ?? null);
      next.focus();
    }
  }

  /** Make one item the list's tab stop (with its row's action buttons). */
  private setActive(key: string | null): void {
    this.activeKey = key;
    const items = this.navItems();
    const active = items.find(el => el.dataset.nav === key) ?? items[0] ?? null;
    for (const item of items) {
      const on = item === active;
      item.tabIndex = on ? 0 : -1;
      const row = item.closest('.nbd-sb-run');
      if (row) {
        row.classList.toggle('nbd-mod-active', on);
        for (const button of Array.from(row.querySelectorAll<HTMLButtonElement>('.nbd-sb-action'))) {
          button.tabIndex = on ? 0 : -1;
        }
      }
    }
  }

  private render(): void {
    if (this.isDisposed) {
      return;
    }
    this.renderChips();
    this.renderList();
    this.renderStatus();
    this.more.hidden = !this.model.hasMore;
    if (document.activeElement !== this.search && this.search.value !== this.model.filters.text) {
      this.search.value = this.model.filters.text;
    }
  }

  private renderStatus(): void {
    const model = this.model;
    const parts: string[] = [];
    if (this.loadError) {
      parts.push(this.loadError);
    } else if (this.loading && !model.loaded) {
      parts.push('Loading runs…');
    } else if (model.loaded) {
      const shown = model.runs.length;
      parts.push(shown === model.total ? `${shown} run${shown === 1 ? '' : 's'}` : `${shown} of ${model.total} runs`);
      const waiting = model.waiting;
      if (waiting > 0) {
        parts.push(`${waiting} waiting for an event`);
      }
    }
    for (const error of model.journalErrors) {
      parts.push(`${error.journal} could not be read: ${error.message}`);
    }
    const text = parts.join(' · ');
    if (this.statusLine.textContent !== text) {
      this.statusLine.textContent = text;
    }
    this.statusLine.toggleAttribute('data-error', Boolean(this.loadError) || model.journalErrors.length > 0);
    const filtered = model.filters.statuses.size > 0 || model.filters.text.trim() !== '' || model.filters.journal !== null;
    this.empty.hidden = !model.loaded || model.runs.length > 0;
    this.empty.textContent = filtered
      ? 'No run matches these filters.'
      : 'No runs yet. Runs of %%durable cells and nd.function workflows, in the journals under this ' +
        "server's root, appear here as they start.";
  }

  private renderChips(): void {
    const d = document;
    const { counts, filters } = this.model;
    const shown = STATUSES.filter(s => (counts[s] ?? 0) > 0 || filters.statuses.has(s));
    const chips: HTMLElement[] = [
      h(d, 'button', { type: 'button', class: 'nbd-sb-chip', 'data-status': '', 'aria-pressed': String(filters.statuses.size === 0) }, [
        'all',
      ]),
      ...shown.map(status =>
        h(
          d,
          'button',
          {
            type: 'button',
            class: 'nbd-sb-chip',
            'data-status': status,
            'aria-pressed': String(filters.statuses.has(status)),
            title: `Show ${status} runs`,
          },
          [status, h(d, 'span', { class: 'nbd-sb-chip-count' }, [String(counts[status] ?? 0)])],
        ),
      ),
    ];
    const signature = chips.map(c => c.outerHTML).join('');
    if (this.chips.dataset.signature !== signature) {
      const focused = (d.activeElement as HTMLElement | null)?.closest<HTMLElement>('.nbd-sb-chip')?.dataset.status;
      this.chips.replaceChildren(...chips);
      this.chips.dataset.signature = signature;
      if (focused !== undefined) {
        this.chips.querySelector<HTMLElement>(`.nbd-sb-chip[data-status="${focused}"]`)?.focus();
      }
    }
  }

  private renderList(): void {
    const groups = this.model.groups;
    const seenGroups = new Set<string>();
    const seenRows = new Set<string>();
    const now = Date.now() / 1000;
    groups.forEach((group, index) => {
      seenGroups.add(group.key);
      const state = this.groups.get(group.key) ?? this.createGroup(group);
      this.groups.set(group.key, state);
      this.fillGroup(state, group);
      const rows: HTMLElement[] = [];
      for (const run of group.runs) {
        const key = runKey(run.journal, run.run_id);
        seenRows.add(key);
        const row = this.rows.get(key) ?? this.createRow(key);
        this.rows.set(key, row);
        this.fillRow(row, run, now);
        rows.push(row.item);
      }
      placeChildren(state.list, rows);
      if (this.listEl.children[index] !== state.node) {
        this.listEl.insertBefore(state.node, this.listEl.children[index] ?? null);
      }
    });
    for (const [key, state] of this.groups) {
      if (!seenGroups.has(key)) {
        state.node.remove();
        this.groups.delete(key);
      }
    }
    for (const [key, row] of this.rows) {
      if (!seenRows.has(key)) {
        row.item.remove();
        this.rows.delete(key);
      }
    }
    const hadFocus = this.listEl.contains(document.activeElement);
    this.setActive(this.activeKey);
    if (hadFocus && !this.listEl.contains(document.activeElement)) {
      this.activeItem()?.focus(); // the focused row went away (filtered out): keep focus in the list
    }
  }

  private createGroup(group: RunGroup): GroupState {
    const d = document;
    const listId = `nbd-sb-group-${Math.random().toString(36).slice(2, 10)}`;
    const header = h(d, 'button', {
      type: 'button',
      class: 'nbd-sb-group-header',
      'data-group': group.key,
      'data-nav': `group:${group.key}`,
      'aria-controls': listId,
      tabindex: '-1',
    }) as HTMLButtonElement;
    const list = h(d, 'ul', { class: 'nbd-sb-runs', id: listId, role: 'list', 'aria-label': group.label });
    const node = h(d, 'section', { class: 'nbd-sb-group', 'data-group': group.key }, [header, list]);
    return { node, header, list };
  }

  private fillGroup(state: GroupState, group: RunGroup): void {
    const folded = this.model.isCollapsed(group.key);
    const signature = JSON.stringify([group.label, group.runs.length, folded]);
    if (state.header.dataset.signature === signature) {
      return;
    }
    state.header.dataset.signature = signature;
    const d = document;
    state.header.setAttribute('aria-expanded', String(!folded));
    state.header.title = group.notebook ? `Runs started from ${group.notebook}` : `Runs in ${group.journal} not started from a notebook`;
    state.header.replaceChildren(
      (folded ? caretRightIcon : caretDownIcon).element({ tag: 'span', className: 'nbd-sb-caret' }),
      group.notebook ? notebookIcon.element({ tag: 'span', className: 'nbd-sb-group-icon' }) : '',
      h(d, 'span', { class: 'nbd-sb-group-label' }, [group.label]),
      h(d, 'span', { class: 'nbd-sb-group-count', 'aria-label': `${group.runs.length} runs` }, [String(group.runs.length)]),
    );
    state.list.hidden = folded;
  }

  private createRow(key: string): RowState {
    const d = document;
    const open = h(d, 'button', {
      type: 'button',
      class: 'nbd-sb-open',
      'data-action': 'open',
      'data-nav': `run:${key}`,
      tabindex: '-1',
    }) as HTMLButtonElement;
    const actions = h(d, 'span', { class: 'nbd-sb-actions' });
    const item = h(d, 'li', { class: 'nbd-sb-run', 'data-key': key }, [open, actions]);
    return { item, open, actions, signature: '', actionsSignature: '' };
  }

  private fillRow(row: RowState, run: RunSummary, now: number): void {
    const when = ago(run.started_at, now);
    const signature = JSON.stringify([run, when]);
    if (signature === row.signature) {
      return;
    }
    row.signature = signature;
    const d = document;
    const title = runTitle(run);
    const why = detail(run);
    row.item.setAttribute('data-status', run.status);
    row.item.setAttribute('data-run-id', run.run_id);
    row.open.title = [
      `${title} · run ${run.run_id} · ${run.status}`,
      `journal ${run.journal}`,
      run.notebook ? `notebook ${run.notebook}` : '',
      why,
      'Enter: open its timeline',
    ]
      .filter(Boolean)
      .join('\n');
    const lines: Array<HTMLElement | null> = [
      h(d, 'span', { class: 'nbd-sb-line' }, [
        h(d, 'span', { class: 'nbd-sb-badge', 'data-status': run.status }, [run.status]),
        h(d, 'span', { class: 'nbd-sb-name' }, [title]),
        run.kind === 'cell' ? h(d, 'span', { class: 'nbd-sb-kind' }, ['cell']) : null,
        h(d, 'span', { class: 'nbd-sb-id' }, [run.run_id]),
      ]),
      h(d, 'span', { class: 'nbd-sb-line nbd-sb-meta' }, [
        h(d, 'span', {}, [progress(run)]),
        h(d, 'span', {}, [when]),
        run.rerun_of ? h(d, 'span', {}, [`rerun of ${run.rerun_of}`]) : null,
      ]),
      why ? h(d, 'span', { class: 'nbd-sb-line nbd-sb-why', 'data-error': String(Boolean(run.error)) }, [why]) : null,
    ];
    row.open.replaceChildren(...lines.filter((line): line is HTMLElement => line !== null));
    const wanted: Array<[LabIcon, string, RowAction]> = [];
    if (run.status === 'waiting') {
      wanted.push([checkIcon, `Approve: send an event to ${run.run_id}…`, 'send-event']);
    }
    if (RESUMABLE_STATUSES.has(run.status)) {
      wanted.push([runIcon, `Resume ${run.run_id}`, 'resume']);
    }
    if (ACTIVE_STATUSES.has(run.status)) {
      wanted.push([stopIcon, `Cancel ${run.run_id}…`, 'cancel']);
    }
    if (run.notebook) {
      wanted.push([notebookIcon, `Go to the cell that started ${run.run_id}`, 'go-to-cell']);
    }
    // Rebuilt only when the set changes, so a focused button survives a progress update.
    const actionsSignature = wanted.map(([, label, action]) => `${action}:${label}`).join('|');
    if (actionsSignature !== row.actionsSignature) {
      row.actionsSignature = actionsSignature;
      row.actions.replaceChildren(...wanted.map(([icon, label, action]) => iconButton(icon, label, action)));
    }
  }
}

/** Make `parent`'s children exactly `nodes`, moving only what is out of place (focus stays put). */
function placeChildren(parent: HTMLElement, nodes: HTMLElement[]): void {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) {
      parent.insertBefore(node, parent.children[i] ?? null);
    }
  });
  for (const extra of Array.from(parent.children).slice(nodes.length)) {
    extra.remove();
  }
}
