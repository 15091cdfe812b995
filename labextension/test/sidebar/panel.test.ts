import { Widget } from '@lumino/widgets';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { RunSummary } from '../../src/sidebar/api';
import { checkEventName, parseEventData } from '../../src/sidebar/dialogs';
import { ago, detail, progress } from '../../src/sidebar/format';
import { RunsModel } from '../../src/sidebar/model';
import { RunsPanel, type RowAction } from '../../src/sidebar/panel';
import { T0, page, run } from './runs';

let model: RunsModel;
let panel: RunsPanel;
let acted: Array<[RowAction, string]>;
let reloads: number;

beforeEach(() => {
  model = new RunsModel();
  acted = [];
  reloads = 0;
  panel = new RunsPanel(model, {
    reload: () => reloads++,
    loadMore: () => undefined,
    act: (action: RowAction, r: RunSummary) => acted.push([action, r.run_id]),
  });
  Widget.attach(panel, document.body);
  const now = Date.now() / 1000;
  model.applyPage(
    page([
      run('w-1', { status: 'waiting', notebook: 'a.ipynb', cell_id: 'c1', started_at: now - 10 }),
      run('f-1', { status: 'failed', started_at: now - 20, error: { type: 'ValueError', message: 'boom', step_id: 'fetch' } }),
      run('d-1', { status: 'completed', notebook: 'a.ipynb', started_at: now - 30 }),
    ]),
  );
});

afterEach(() => {
  panel.dispose();
});

const rowIds = (): string[] =>
  Array.from(panel.node.querySelectorAll<HTMLElement>('.nbd-sb-run')).map(el => el.dataset.runId ?? '');

function key(target: Element, name: string): void {
  target.dispatchEvent(new KeyboardEvent('keydown', { key: name, bubbles: true, cancelable: true }));
}

describe('RunsPanel', () => {
  it('groups the rows by notebook with a badge, and the actions each status allows', () => {
    expect(Array.from(panel.node.querySelectorAll('.nbd-sb-group-label')).map(n => n.textContent)).toEqual([
      'a.ipynb',
      '.nbdurable/journal.db: not from a notebook',
    ]);
    expect(rowIds()).toEqual(['w-1', 'd-1', 'f-1']);
    const actions = (id: string): string[] =>
      Array.from(panel.node.querySelectorAll<HTMLElement>(`.nbd-sb-run[data-run-id="${id}"] .nbd-sb-action`)).map(
        b => b.dataset.action ?? '',
      );
    expect(actions('w-1')).toEqual(['send-event', 'cancel', 'go-to-cell']);
    expect(actions('f-1')).toEqual(['resume']);
    expect(actions('d-1')).toEqual(['go-to-cell']);
    const failed = panel.node.querySelector('.nbd-sb-run[data-run-id="f-1"]')!;
    expect(failed.querySelector('.nbd-sb-badge')?.textContent).toBe('failed');
    expect(failed.querySelector('.nbd-sb-why')?.textContent).toBe('ValueError: boom (step fetch)');
    for (const button of Array.from(panel.node.querySelectorAll('.nbd-sb-action'))) {
      expect(button.getAttribute('aria-label')).toBeTruthy();
    }
  });

  it('makes the list one tab stop that arrow keys move, and acts on Enter and on its buttons', () => {
    const tabbable = (): string[] =>
      Array.from(panel.node.querySelectorAll<HTMLElement>('.nbd-sb-list [data-nav], .nbd-sb-list .nbd-sb-action'))
        .filter(el => el.tabIndex === 0)
        .map(el => el.dataset.nav ?? `action:${el.dataset.action}`);
    expect(tabbable()).toEqual(['group:nb:a.ipynb']);
    const header = panel.node.querySelector<HTMLElement>('[data-nav="group:nb:a.ipynb"]')!;
    header.focus();
    key(header, 'ArrowDown');
    const first = document.activeElement as HTMLElement;
    expect(first.dataset.nav).toContain('w-1');
    expect(tabbable()).toEqual([first.dataset.nav, 'action:send-event', 'action:cancel', 'action:go-to-cell']);
    expect(model.selected).toContain('w-1');
    key(first, 'End');
    expect((document.activeElement as HTMLElement).dataset.nav).toContain('f-1');
    key(document.activeElement!, 'Home');
    expect(document.activeElement).toBe(header);
    // Left on the header folds its group: its rows leave the arrow keys' way.
    key(header, 'ArrowLeft');
    expect(header.getAttribute('aria-expanded')).toBe('false');
    key(panel.node.querySelector('[data-nav="group:nb:a.ipynb"]')!, 'ArrowDown');
    expect((document.activeElement as HTMLElement).dataset.nav).toBe('group:journal:.nbdurable/journal.db');
    key(document.activeElement!, 'ArrowDown');
    const failed = document.activeElement as HTMLButtonElement;
    failed.click(); // Enter and Space click a focused button
    failed.closest('.nbd-sb-run')!.querySelector<HTMLButtonElement>('[data-action="resume"]')!.click();
    expect(acted).toEqual([
      ['open', 'f-1'],
      ['resume', 'f-1'],
    ]);
  });

  it('keeps the focused row focused while the feed updates it', () => {
    const row = panel.node.querySelector<HTMLElement>('.nbd-sb-run[data-run-id="w-1"] .nbd-sb-open')!;
    row.focus();
    model.applyRun(run('w-1', { status: 'waiting', notebook: 'a.ipynb', cell_id: 'c1', started_at: Date.now() / 1000 - 10, steps_done: 3 }));
    expect(document.activeElement).toBe(row);
    expect(row.textContent).toContain('3 / 3 steps');
  });

  it('filters by status with toggle chips that say their counts', () => {
    const chips = Array.from(panel.node.querySelectorAll<HTMLButtonElement>('.nbd-sb-chip'));
    expect(chips.map(c => c.textContent)).toEqual(['all', 'waiting1', 'failed1', 'completed1']);
    chips[2].click();
    expect(reloads).toBe(1);
    expect(model.filters.statuses).toEqual(new Set(['failed']));
    const pressed = panel.node.querySelector('.nbd-sb-chip[data-status="failed"]');
    expect(pressed?.getAttribute('aria-pressed')).toBe('true');
  });
});

describe('sidebar texts', () => {
  it('says how long ago, the progress and why', () => {
    expect(ago(T0, T0 + 2)).toBe('just now');
    expect(ago(T0, T0 + 42)).toBe('42 s ago');
    expect(ago(T0, T0 + 3 * 60 + 5)).toBe('3 min ago');
    expect(ago(T0, T0 + 7200)).toBe('2 h ago');
    expect(ago(T0, T0 + 3 * 86400)).toBe('3 d ago');
    expect(progress(run('a', { steps_done: 1, steps_total: 1 }))).toBe('1 / 1 step');
    expect(progress(run('a', { steps_done: 2, steps_total: 5, steps_failed: 1, step_attempts: 2 }))).toBe(
      '2 / 5 steps, 1 failed, 2 retries',
    );
    expect(detail(run('a', { status_reason: 'queued: 3 ahead' }))).toBe('queued: 3 ahead');
    expect(detail(run('a', { status: 'completed', ended_at: T0 + 1.5 }))).toBe('took 1.5 s');
  });

  it('checks event names and data before anything is sent', () => {
    expect(parseEventData('{"approved": true}')).toEqual({ data: { approved: true }, error: null });
    expect(parseEventData('  ')).toEqual({ data: {}, error: null });
    expect(parseEventData('{"approved": tru}').error).toMatch(/^Not valid JSON: /);
    expect(parseEventData('[1, 2]').error).toBe('The event data must be a JSON object, like {"approved": true}.');
    expect(checkEventName('demo/approved')).toBeNull();
    expect(checkEventName('')).toBe('An event needs a name.');
    expect(checkEventName(' x')).toBe('An event name cannot start or end with a space.');
    expect(checkEventName('a\nb')).toBe('An event name cannot hold control characters or line breaks.');
  });
});
