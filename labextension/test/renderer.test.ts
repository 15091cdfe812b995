import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { TimelineView } from '../src/renderer';
import { STYLE_ID } from '../src/style';
import type { ActionMessage, RenderedMessage, Snapshot } from '../src/types';
import { render, type WidgetModel } from '../src/widget';
import { T0, sampleSnapshot, step } from './fixtures';

let host: HTMLElement;

beforeEach(() => {
  host = document.createElement('div');
  document.body.appendChild(host);
});

afterEach(() => {
  host.remove();
});

function rows(root: ParentNode = host): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>('.nbd-step'));
}

function cell(row: HTMLElement, cls: string): string {
  return row.querySelector(`.${cls}`)?.textContent ?? '';
}

function open(row: HTMLElement): HTMLElement {
  row.querySelector<HTMLButtonElement>('button.nbd-row')!.click();
  return row.querySelector<HTMLElement>('.nbd-detail')!;
}

describe('TimelineView', () => {
  it('draws one row per step in order with name, kind, status and duration', () => {
    const view = new TimelineView(host, { host: 'test' });
    view.update(sampleSnapshot());
    const r = rows();
    expect(r.map(x => cell(x, 'nbd-name'))).toEqual(['↺summarize', 'plan', 'lookup', 'approval']);
    expect(r.map(x => cell(x, 'nbd-kind'))).toEqual(['run', 'ai', 'run', 'wait']);
    expect(r.map(x => cell(x, 'nbd-status'))).toEqual([
      'replayed',
      'completed',
      'retrying 2 of 4, next in 30.0 s',
      'waiting for support/ticket.approved',
    ]);
    expect(r.map(x => cell(x, 'nbd-dur'))).toEqual(['2.0 s', '3.5 s', '54.5 s', '54.0 s']);
    expect(r[0].dataset.replayed).toBe('true');
    expect(r[1].dataset.replayed).toBe('false');
    expect(host.querySelector('.nbd-timeline')!.getAttribute('data-host')).toBe('test');
    expect(document.getElementById(STYLE_ID)).not.toBeNull();
  });

  it('puts bars on a shared time axis', () => {
    new TimelineView(host).update(sampleSnapshot());
    const bars = rows().map(r => r.querySelector<HTMLElement>('.nbd-bar')!.getAttribute('style'));
    // axis runs T0 .. T0+60
    expect(bars[0]).toBe('left:0%;width:3.33%');
    expect(bars[1]).toBe('left:3.33%;width:5.83%');
    expect(bars[3]).toBe('left:10%;width:90%');
    const ticks = Array.from(host.querySelectorAll('.nbd-tick')).map(t => t.textContent);
    expect(ticks).toEqual(['0', '+15.0 s', '+30.0 s', '+45.0 s', '+1m 00s']);
  });

  it('shows the run header: function, id, status, elapsed, steps, tokens, cost, warnings', () => {
    new TimelineView(host).update(sampleSnapshot());
    const header = host.querySelector('.nbd-header')!;
    expect(header.querySelector('.nbd-fn')!.textContent).toBe('resolve-ticket');
    expect(header.querySelector('.nbd-runid')!.textContent).toBe('run-1');
    expect(header.querySelector('.nbd-badge')!.textContent).toBe('waiting');
    const stats = header.querySelector('.nbd-stats')!.textContent;
    expect(stats).toContain('elapsed 1m 00s');
    expect(stats).toContain('steps 3 / 6');
    expect(stats).toContain('tokens 1,200 in / 345 out');
    expect(stats).toContain('cost $0.0123');
    expect(header.querySelector('.nbd-warnings')!.textContent).toContain('time.time() called outside a step');
  });

  it('says unknown for an unknown cost and shows the run error', () => {
    const snap = sampleSnapshot();
    snap.run!.cost = null;
    snap.run!.status = 'failed';
    snap.run!.error = { type: 'StepError', message: 'lookup failed', traceback: 'TB-LINE' };
    new TimelineView(host).update(snap);
    expect(host.querySelector('.nbd-stats')!.textContent).toContain('cost unknown');
    expect(host.querySelector('.nbd-run-error')!.textContent).toContain('StepError: lookup failed');
    expect(host.querySelector('.nbd-run-error pre')!.textContent).toBe('TB-LINE');
  });

  it('opens a step to show input, truncated output with size, attempts and idempotency key', () => {
    new TimelineView(host).update(sampleSnapshot());
    const detail = open(rows()[0]);
    expect(detail.hidden).toBe(false);
    expect(rows()[0].querySelector('button')!.getAttribute('aria-expanded')).toBe('true');
    expect(detail.querySelector('.nbd-input')!.textContent).toBe('{"body": "my order is late"}');
    expect(detail.querySelector('.nbd-output')!.textContent).toBe('"The customer');
    expect(detail.textContent).toContain('(truncated: first 13 B of 2.0 KiB)');
    expect(detail.textContent).toContain('attempts1 of 4');
    expect(detail.querySelector('.nbd-idem')!.textContent).toBe('run-1:summarize');
    expect(detail.textContent).toContain('replayed (from the journal)');
    // closing hides it again
    rows()[0].querySelector<HTMLButtonElement>('button.nbd-row')!.click();
    expect(rows()[0].querySelector<HTMLElement>('.nbd-detail')!.hidden).toBe(true);
  });

  it("tells a step's failure once: the step's details hold the user's traceback, the full one a click away", () => {
    const snap = sampleSnapshot();
    snap.run!.status = 'failed';
    snap.run!.error = { type: 'TimeoutError', message: 'upstream timed out', traceback: 'FULL', step_id: 'lookup' };
    snap.steps![2] = {
      ...snap.steps![2],
      status: 'failed',
      error: { type: 'TimeoutError', message: 'upstream timed out', traceback: 'FULL', user_traceback: 'MINE' },
    };
    new TimelineView(host).update(snap);
    const header = host.querySelector('.nbd-run-error')!;
    expect(header.querySelector('.nbd-error-title')!.textContent).toBe('TimeoutError: upstream timed out');
    expect(header.querySelector('pre')).toBeNull();
    expect(header.textContent).toContain('in step lookup: open it for the traceback');
    const detail = open(rows()[2]);
    expect(detail.querySelector('pre.nbd-traceback')!.textContent).toBe('MINE');
    const full = detail.querySelector<HTMLDetailsElement>('details.nbd-full-traceback')!;
    expect(full.open).toBe(false);
    expect(full.querySelector('pre')!.textContent).toBe('FULL');
  });

  it('lists every failed attempt of a retried step with its error and backoff', () => {
    const snap = sampleSnapshot();
    snap.steps![2] = {
      ...snap.steps![2],
      status: 'completed',
      attempt: 3,
      max_attempts: 4,
      error: null,
      attempts: [
        { attempt: 1, started_at: T0 + 5.5, ended_at: T0 + 6, retry_at: T0 + 8, error: { type: 'TimeoutError', message: 'slow' } },
        { attempt: 2, started_at: T0 + 8, ended_at: T0 + 9.25, retry_at: T0 + 13.25, error: { type: 'KeyError', message: null } },
      ],
    };
    new TimelineView(host).update(snap);
    expect(cell(rows()[2], 'nbd-status')).toBe('completed (attempt 3 of 4)');
    const items = Array.from(open(rows()[2]).querySelectorAll('.nbd-attempts li')).map(li => li.textContent);
    expect(items).toEqual([
      'Attempt 1 failed after 500 ms: TimeoutError: slow; retried 2.0 s later',
      'Attempt 2 failed after 1.2 s: KeyError; retried 4.0 s later',
    ]);
  });

  it('shows error and traceback of a retrying step', () => {
    new TimelineView(host).update(sampleSnapshot());
    const detail = open(rows()[2]);
    expect(detail.querySelector('.nbd-error-title')!.textContent).toBe('TimeoutError: upstream timed out');
    expect(detail.querySelector('.nbd-traceback')!.textContent).toContain('Traceback (most recent call last)');
    expect(detail.textContent).toContain('next attempt12:01:30 UTC');
  });

  it('shows AI details: prompt, response, tokens, latency, cost', () => {
    new TimelineView(host).update(sampleSnapshot());
    const detail = open(rows()[1]);
    const ai = detail.querySelector('.nbd-ai')!.textContent!;
    expect(ai).toContain('gpt-4o (openai)');
    expect(ai).toContain('1,200 in / 345 out');
    expect(ai).toContain('latency3.5 s');
    expect(ai).toContain('cost$0.0123');
    expect(ai).toContain('pricegenai-prices 0.2.3, as of 2026-01-01 (openai gpt-4o)');
    expect(JSON.parse(detail.querySelector('.nbd-ai-request')!.textContent!)).toEqual({
      messages: [{ role: 'user', content: 'Plan a refund' }],
    });
    expect(detail.querySelector('.nbd-ai-response')!.textContent).toBe('Refund the charge');
  });

  it('keeps open steps open and typed payloads across updates', () => {
    const view = new TimelineView(host, { onAction: () => undefined });
    view.update(sampleSnapshot());
    open(rows()[1]);
    const textarea = host.querySelector<HTMLTextAreaElement>('textarea.nbd-payload')!;
    textarea.value = '{"approved": true}';
    const next = sampleSnapshot();
    next.run!.now = T0 + 61;
    next.run!.steps_done = 4;
    view.update(next);
    expect(rows()[1].dataset.open).toBe('true');
    expect(rows()[1].querySelector<HTMLElement>('.nbd-detail')!.hidden).toBe(false);
    expect(host.querySelector<HTMLTextAreaElement>('textarea.nbd-payload')).toBe(textarea);
    expect(textarea.value).toBe('{"approved": true}');
    expect(host.querySelector('.nbd-stats')!.textContent).toContain('steps 4 / 6');
  });

  it('reuses row nodes, adds new steps and drops vanished ones', () => {
    const view = new TimelineView(host);
    const snap = sampleSnapshot();
    view.update(snap);
    const first = rows()[0];
    snap.steps = [...snap.steps!.slice(1), step({ step_id: 'refund', name: 'refund', position: 4 })];
    view.update(snap);
    expect(rows().map(r => r.dataset.stepId)).toEqual(['plan', 'lookup', 'approval', 'refund']);
    expect(rows()).not.toContain(first);
    expect(cell(rows()[3], 'nbd-pos')).toBe('5');
  });

  it('sends the awaited event with the JSON payload', () => {
    const sent: ActionMessage[] = [];
    const view = new TimelineView(host, { onAction: m => sent.push(m) });
    view.update(sampleSnapshot());
    const button = host.querySelector<HTMLButtonElement>('button.nbd-send')!;
    expect(button.textContent).toBe('Approve: send support/ticket.approved');
    host.querySelector<HTMLTextAreaElement>('textarea.nbd-payload')!.value = '{"approved": true, "by": "ana"}';
    button.click();
    expect(sent).toEqual([
      { action: 'send_event', event: 'support/ticket.approved', data: { approved: true, by: 'ana' }, step_id: 'approval' },
    ]);
    expect(button.disabled).toBe(true);
    view.setNotice('Sent support/ticket.approved', 'ok');
    expect(button.disabled).toBe(false);
    expect(host.querySelector('.nbd-notice')!.textContent).toBe('Sent support/ticket.approved');
  });

  it('refuses a payload that is not JSON and sends nothing', () => {
    const sent: ActionMessage[] = [];
    new TimelineView(host, { onAction: m => sent.push(m) }).update(sampleSnapshot());
    host.querySelector<HTMLTextAreaElement>('textarea.nbd-payload')!.value = '{approved: yes}';
    host.querySelector<HTMLButtonElement>('button.nbd-send')!.click();
    expect(sent).toEqual([]);
    const error = host.querySelector<HTMLElement>('.nbd-field-error')!;
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain('not valid JSON');
  });

  it('cancels the run and reruns from a step', () => {
    const sent: ActionMessage[] = [];
    new TimelineView(host, { onAction: m => sent.push(m) }).update(sampleSnapshot());
    host.querySelector<HTMLButtonElement>('button.nbd-cancel')!.click();
    const detail = open(rows()[2]);
    detail.querySelector<HTMLButtonElement>('button.nbd-rerun')!.click();
    expect(sent).toEqual([{ action: 'cancel' }, { action: 'rerun', step_id: 'lookup' }]);
  });

  it('offers only the actions the snapshot allows, and none without a handler', () => {
    const snap = sampleSnapshot();
    snap.actions = { send_event: false, cancel: true, rerun: false };
    new TimelineView(host, { onAction: () => undefined }).update(snap);
    expect(host.querySelector('button.nbd-send')).toBeNull();
    expect(host.querySelector('button.nbd-cancel')).not.toBeNull();
    expect(open(rows()[0]).querySelector('button.nbd-rerun')).toBeNull();
    // the wait is still described in the header
    expect(host.querySelector('.nbd-header')!.textContent).toContain('Waiting for event support/ticket.approved');

    const other = document.createElement('div');
    new TimelineView(other).update(sampleSnapshot());
    expect(other.querySelectorAll('button.nbd-send, button.nbd-cancel, button.nbd-rerun, textarea')).toHaveLength(0);
  });

  it('never turns text into markup', () => {
    const evil = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;';
    const snap = sampleSnapshot();
    snap.run!.function_id = evil;
    snap.run!.warnings = [{ message: evil, step_id: evil }];
    snap.steps![0] = { ...snap.steps![0], name: evil, input_preview: evil, output_preview: evil };
    new TimelineView(host).update(snap);
    open(rows()[0]);
    expect(host.querySelectorAll('img, script:not(#nbdurable-timeline-style)')).toHaveLength(0);
    expect(host.querySelector('.nbd-fn')!.textContent).toBe(evil);
    expect(host.querySelector('.nbd-input')!.textContent).toBe(evil);
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('survives empty and malformed snapshots', () => {
    const view = new TimelineView(host);
    view.update({});
    expect(host.querySelector('.nbd-empty')!.textContent).toBe('No steps yet.');
    view.update(null);
    view.update({ run: { status: 'running', now: 'x' as unknown as number }, steps: [null as never, { name: 5 as never }] });
    expect(rows()).toHaveLength(2);
    expect(cell(rows()[1], 'nbd-name')).toBe('5');
    view.update(sampleSnapshot());
    expect(host.querySelector('.nbd-empty')).toBeNull();
    expect(rows()).toHaveLength(4);
  });

  it('says how many earlier steps are not shown', () => {
    const snap: Snapshot = { ...sampleSnapshot(), steps_omitted: 1234 };
    new TimelineView(host).update(snap);
    const omitted = host.querySelector<HTMLElement>('.nbd-omitted')!;
    expect(omitted.hidden).toBe(false);
    expect(omitted.textContent).toBe('… 1,234 earlier steps not shown');
  });

  it('advances elapsed time between snapshots while live, and stops once finished', () => {
    vi.useFakeTimers();
    try {
      let clock = 1000;
      const view = new TimelineView(host, { live: true, clock: () => clock });
      view.update(sampleSnapshot());
      expect(host.querySelector('.nbd-stats')!.textContent).toContain('elapsed 1m 00s');
      clock += 5;
      vi.advanceTimersByTime(1000);
      expect(host.querySelector('.nbd-stats')!.textContent).toContain('elapsed 1m 05s');
      const done = sampleSnapshot();
      done.run!.status = 'completed';
      done.run!.ended_at = T0 + 70;
      view.update(done);
      clock += 100;
      vi.advanceTimersByTime(5000);
      expect(host.querySelector('.nbd-stats')!.textContent).toContain('elapsed 1m 10s');
      expect(vi.getTimerCount()).toBe(0);
      view.dispose();
      expect(host.querySelector('.nbd-timeline')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('anywidget front end', () => {
  it('follows the model, sends actions and shows the answer', () => {
    const handlers = new Map<string, (...args: unknown[]) => void>();
    let snapshot = sampleSnapshot();
    const sent: (ActionMessage | RenderedMessage)[] = [];
    const model = {
      get: () => snapshot,
      on: (event: string, cb: (...args: unknown[]) => void) => handlers.set(event, cb),
      off: (event: string) => handlers.delete(event),
      send: (m: ActionMessage | RenderedMessage) => sent.push(m),
    };
    const cleanup = render({ model: model as unknown as WidgetModel, el: host });
    expect(rows()).toHaveLength(4);
    expect(sent).toEqual([{ type: 'rendered' }]);
    sent.length = 0;
    expect(host.querySelector('.nbd-timeline')!.getAttribute('data-host')).toBe('widget');

    snapshot = { ...sampleSnapshot(), steps: sampleSnapshot().steps!.slice(0, 2) };
    handlers.get('change:snapshot')!();
    expect(rows()).toHaveLength(2);

    host.querySelector<HTMLButtonElement>('button.nbd-cancel')!.click();
    expect(sent).toEqual([{ action: 'cancel' }]);
    handlers.get('msg:custom')!({ type: 'action_result', action: 'cancel', ok: false, message: 'run already finished' });
    const notice = host.querySelector<HTMLElement>('.nbd-notice')!;
    expect(notice.textContent).toBe('run already finished');
    expect(notice.dataset.kind).toBe('error');

    cleanup();
    expect(handlers.size).toBe(0);
    expect(host.querySelector('.nbd-timeline')).toBeNull();
  });

  it('goes stale when its comm to the kernel is lost: clock stopped, actions off, and says so', () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(new Date((T0 + 60) * 1000)); // the sample's own `now`
      const handlers = new Map<string, (...args: unknown[]) => void>();
      const sent: (ActionMessage | RenderedMessage)[] = [];
      const model = {
        get: () => sampleSnapshot(),
        on: (event: string, cb: (...args: unknown[]) => void) => handlers.set(event, cb),
        off: (event: string) => handlers.delete(event),
        send: (m: ActionMessage | RenderedMessage) => sent.push(m),
      };
      const cleanup = render({ model: model as unknown as WidgetModel, el: host });
      const elapsed = (): string => host.querySelector('.nbd-stats')!.textContent ?? '';
      vi.advanceTimersByTime(5000);
      expect(elapsed()).toContain('elapsed 1m 05s');
      handlers.get('comm_live_update')!();
      const notice = host.querySelector<HTMLElement>('.nbd-notice')!;
      expect(notice.textContent).toBe('Kernel stopped: run the cell again to resume.');
      expect(notice.dataset.kind).toBe('stale');
      expect(host.querySelector('.nbd-timeline')!.getAttribute('data-stale')).toBe('true');
      const controls = Array.from(host.querySelectorAll<HTMLButtonElement | HTMLTextAreaElement>('.nbd-actions button, .nbd-actions textarea'));
      expect(controls.length).toBeGreaterThan(0);
      expect(controls.every(c => c.disabled)).toBe(true);
      vi.advanceTimersByTime(60_000);
      expect(elapsed()).toContain('elapsed 1m 05s');
      // an answer arriving late does not hide that the kernel stopped
      handlers.get('msg:custom')!({ type: 'action_result', action: 'cancel', ok: true, message: 'Cancel requested.' });
      expect(notice.textContent).toBe('Kernel stopped: run the cell again to resume.');
      cleanup();
      expect(handlers.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('time axis and header', () => {
  it('moves the axis on with the live clock during a sleep or wait', () => {
    vi.useFakeTimers();
    try {
      vi.setSystemTime(new Date((T0 + 60) * 1000));
      const view = new TimelineView(host, { live: true });
      view.update(sampleSnapshot());
      const ticks = (): (string | null)[] => Array.from(host.querySelectorAll('.nbd-tick')).map(t => t.textContent);
      expect(ticks().at(-1)).toBe('+1m 00s');
      vi.advanceTimersByTime(60_000);
      expect(ticks().at(-1)).toBe('+2m 00s');
      // the waiting step's bar grows with it: it started at +6 s of a 120 s axis
      const bar = rows()[3].querySelector<HTMLElement>('.nbd-bar')!.getAttribute('style');
      expect(bar).toBe('left:5%;width:95%');
      view.dispose();
    } finally {
      vi.useRealTimers();
    }
  });

  it('says how many steps were replayed and ran, and when the run stopped and resumed', () => {
    const snap = sampleSnapshot();
    new TimelineView(host).update(snap);
    expect(host.querySelector('.nbd-replay')!.textContent).toBe('1 replayed · 3 ran');
    // the replay went straight on to the next step: no stop to speak of
    expect(host.querySelector('.nbd-gap')).toBeNull();
    snap.steps![0] = { ...snap.steps![0], ended_at: T0 + 1 };
    snap.steps![1] = { ...snap.steps![1], started_at: T0 + 4 };
    host.replaceChildren();
    new TimelineView(host).update(snap);
    expect(host.querySelector('.nbd-gap')!.textContent).toBe('Stopped 12:00:01 UTC, resumed 12:00:04 UTC (3.0 s later)');
  });

  it('leaves tokens and cost out of a run without AI steps, and names a cell once', () => {
    const snap = sampleSnapshot();
    snap.run = { ...snap.run, function_id: 'cell:demo-1', run_id: 'demo-1', tokens_in: 0, tokens_out: 0, cost: null };
    snap.steps = snap.steps!.map(s => ({ ...s, ai: null, replayed: false }));
    new TimelineView(host).update(snap);
    const header = host.querySelector('.nbd-header')!;
    expect(header.querySelector('.nbd-fn')!.textContent).toBe('%%durable demo-1');
    expect(header.querySelector('.nbd-runid')).toBeNull();
    const stats = header.querySelector('.nbd-stats')!.textContent;
    expect(stats).not.toContain('tokens');
    expect(stats).not.toContain('cost');
    expect(header.querySelector('.nbd-replay')).toBeNull();
    expect(header.querySelector('.nbd-gap')).toBeNull();
  });
});

describe('long runs', () => {
  function longSnapshot(n: number): Snapshot {
    const snap = sampleSnapshot();
    snap.steps = Array.from({ length: n }, (_, i) =>
      step({ step_id: `s${i}`, name: `s${i}`, position: i, started_at: T0 + i, ended_at: T0 + i + 0.5 }),
    );
    return snap;
  }

  it('draws only a window of rows, and the rows scrolled to', async () => {
    new TimelineView(host, { host: 'test' }).update(longSnapshot(10_000));
    const list = host.querySelector<HTMLElement>('.nbd-rows')!;
    expect(list.classList.contains('nbd-rows-windowed')).toBe(true);
    const drawn = (): string[] => rows().map(r => r.getAttribute('data-step-id')!);
    expect(drawn()[0]).toBe('s0');
    expect(drawn().length).toBeLessThan(100);
    // The spacers stand in for the rest: the list is as tall as every row.
    const pads = Array.from(list.querySelectorAll<HTMLElement>('.nbd-pad')).map(p => parseFloat(p.style.height));
    expect(pads[0]).toBe(0);
    expect(pads[1]).toBeGreaterThan(9_000 * 20);
    // jsdom lays nothing out: scroll by setting where the list is scrolled to.
    Object.defineProperty(list, 'scrollTop', { configurable: true, value: pads[1] });
    list.dispatchEvent(new Event('scroll'));
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(drawn()).toContain('s9999');
    expect(drawn()).not.toContain('s0');
    expect(drawn().length).toBeLessThan(100);
  });

  it('draws every row of a short run', () => {
    new TimelineView(host, { host: 'test' }).update(longSnapshot(50));
    expect(rows()).toHaveLength(50);
    expect(host.querySelector('.nbd-rows-windowed')).toBeNull();
  });
});
