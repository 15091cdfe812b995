/**
 * The timeline renderer shared by the live widget and the JupyterLab MIME renderer.
 *
 * One class draws a run snapshot into a DOM node and updates it in place, so a
 * step the user opened stays open and a payload being typed is not lost while
 * updates stream in. Text is only ever set with textContent: step names,
 * previews and tracebacks come from user code and are never parsed as HTML.
 */

import {
  attemptLine,
  barGeometry,
  formatBytes,
  formatClock,
  formatCost,
  formatDuration,
  formatInt,
  formatPayload,
  formatPrice,
  formatRelative,
  hasAi,
  isTerminal,
  num,
  replaySummary,
  resumeGapText,
  runElapsed,
  runStatusLabel,
  runTitle,
  snapshotNow,
  stepDuration,
  stepStatusLabel,
  str,
  timeAxis,
  utf8Length,
} from './format';
import { ensureStyles } from './style';
import { readSnapshot } from './snapshot';
import { RERUN_EVENT, type ActionMessage, type ErrorInfo, type RerunRequest, type RunInfo, type Snapshot, type StepInfo } from './types';

export interface TimelineOptions {
  /** Where the view lives ("widget", "mime"); set as data-host for styling and tests. */
  host?: string;
  /** Called when the user asks for an action; without it no action buttons are shown. */
  onAction?: (message: ActionMessage) => void;
  /** Keep elapsed times moving between snapshots while the run is not finished. */
  live?: boolean;
  /** Current time in epoch seconds; tests pass a fixed clock. */
  clock?: () => number;
  /** Whether the host can start a rerun itself (it handles RERUN_EVENT): then reruns are offered without onAction. */
  canRerunHere?: () => boolean;
}

type Child = Node | string | null | undefined | false;

/** Create an element with attributes and children; strings become text nodes, never markup. */
export function h(
  doc: Document,
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  children: Child[] = [],
): HTMLElement {
  const node = doc.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    node.appendChild(typeof child === 'string' ? doc.createTextNode(child) : child);
  }
  return node;
}

interface RowState {
  step: HTMLElement;
  row: HTMLButtonElement;
  detail: HTMLElement;
  detailKey: string;
}

let viewCounter = 0;

/** Above this many steps only the rows in view are in the DOM (a 10,000-step run draws a few dozen). */
export const WINDOW_ABOVE = 100;
/** Rows drawn beyond each edge of the viewport, so a scroll shows drawn rows before the next frame. */
const OVERSCAN_ROWS = 10;
/** A viewport height for a view not laid out (jsdom, a hidden output), in pixels. */
const DEFAULT_VIEWPORT_PX = 480;
/** A closed row's height before one is measured, in pixels. */
const ROW_PX = 25;

/** Each step's key: its id, made unique by its index when repeated (or the index alone without one). */
function stepKeys(steps: unknown[]): string[] {
  const seen = new Set<string>();
  return steps.map((raw, index) => {
    const step: StepInfo = raw && typeof raw === 'object' ? (raw as StepInfo) : {};
    let key = str(step.step_id) ?? `#${index}`;
    if (seen.has(key)) {
      key = `${key}#${index}`;
    }
    seen.add(key);
    return key;
  });
}

/** A run's timeline drawn into a node and kept up to date with `update`. */
export class TimelineView {
  readonly node: HTMLElement;
  private readonly doc: Document;
  private readonly options: TimelineOptions;
  private readonly id: string;
  private snapshot: Snapshot = {};
  private newerVersion: number | null = null;
  private receivedAt = 0;
  private readonly open = new Set<string>();
  private readonly rows = new Map<string, RowState>();
  /** Windowed rows: the usual height of a row, and the measured height of each row drawn at another. */
  private readonly measured = new Map<string, number>();
  private closedRowPx = ROW_PX;
  private rowPxMeasured = false;
  private keyIndex = new Map<string, number>();
  private keysOf: unknown[] | null = null;
  private keys: string[] = [];
  private readonly padTop: HTMLElement;
  private readonly padBottom: HTMLElement;
  private scrollFrame: number | null = null;
  private readonly headerEl: HTMLElement;
  private readonly actionsEl: HTMLElement;
  private readonly noticeEl: HTMLElement;
  private readonly axisEl: HTMLElement;
  private readonly omittedEl: HTMLElement;
  private readonly rowsEl: HTMLElement;
  private actionsKey: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private disposed = false;
  /** Why nothing updates this view any more (the kernel stopped), and the moment its clock stopped. */
  private staleReason: string | null = null;
  private staleAt: number | null = null;

  constructor(parent: HTMLElement, options: TimelineOptions = {}) {
    this.doc = parent.ownerDocument;
    this.options = options;
    this.id = `nbd-${++viewCounter}`;
    ensureStyles(this.doc);
    const d = this.doc;
    this.headerEl = h(d, 'div', { class: 'nbd-header' });
    this.actionsEl = h(d, 'div', { class: 'nbd-actions' });
    this.noticeEl = h(d, 'div', { class: 'nbd-notice', role: 'status', hidden: true });
    this.axisEl = h(d, 'div', { class: 'nbd-axis nbd-grid', 'aria-hidden': 'true' });
    this.omittedEl = h(d, 'div', { class: 'nbd-omitted', hidden: true });
    this.rowsEl = h(d, 'div', { class: 'nbd-rows', role: 'list' });
    this.padTop = h(d, 'div', { class: 'nbd-pad', 'aria-hidden': 'true' });
    this.padBottom = h(d, 'div', { class: 'nbd-pad', 'aria-hidden': 'true' });
    // A windowed list draws the rows that scrolled into view, once per frame however many scroll events come.
    this.rowsEl.addEventListener('scroll', () => {
      if (this.scrollFrame !== null || !this.rowsEl.classList.contains('nbd-rows-windowed')) {
        return;
      }
      const view = d.defaultView;
      const draw = (): void => {
        this.scrollFrame = null;
        if (!this.disposed) {
          this.renderRows(this.now());
        }
      };
      this.scrollFrame = view ? view.requestAnimationFrame(draw) : null;
      if (!view) {
        draw();
      }
    });
    this.node = h(d, 'div', { class: 'nbd-timeline', 'data-host': options.host ?? 'view' }, [
      this.headerEl,
      this.actionsEl,
      this.noticeEl,
      this.axisEl,
      this.omittedEl,
      this.rowsEl,
    ]);
    parent.appendChild(this.node);
  }

  /** Draw a new snapshot, keeping open steps open. */
  update(snapshot: Snapshot | null | undefined): void {
    if (this.disposed) {
      return;
    }
    const read = readSnapshot(snapshot);
    this.snapshot = read.snapshot;
    this.newerVersion = read.newer;
    this.receivedAt = this.clock();
    this.render();
    this.syncTimer();
  }

  /** Show the outcome of an action (from the Python side, or a local validation error). */
  setNotice(text: string, kind: 'ok' | 'error' | 'info' | 'stale' = 'info'): void {
    if (this.staleReason !== null && kind !== 'stale') {
      return; // an answer that arrives after the kernel stopped must not hide that it stopped
    }
    this.noticeEl.textContent = text;
    this.noticeEl.setAttribute('data-kind', kind);
    this.noticeEl.hidden = text === '';
    if (kind === 'ok' || kind === 'error') {
      for (const button of Array.from(this.actionsEl.querySelectorAll('button'))) {
        (button as HTMLButtonElement).disabled = false;
      }
    }
  }

  /**
   * Say the view is no longer followed (its kernel stopped): stop the clock where it is,
   * disable every action, and show `reason`. Later snapshots are still drawn, frozen.
   */
  markStale(reason: string): void {
    if (this.disposed) {
      return;
    }
    if (this.staleReason === null) {
      this.staleAt = this.now();
    }
    this.staleReason = reason;
    this.node.setAttribute('data-stale', 'true');
    this.actionsKey = null;
    this.render();
    this.syncTimer();
    this.setNotice(reason, 'stale');
  }

  /** Whether `markStale` was called: the view shows a moment that has passed. */
  get stale(): boolean {
    return this.staleReason !== null;
  }

  /** The moment the view shows (epoch seconds): the snapshot's, moved on by the clock while live. */
  currentTime(): number | null {
    return this.now();
  }

  /** Stop the clock and remove the node. */
  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.node.remove();
  }

  private clock(): number {
    return this.options.clock ? this.options.clock() : Date.now() / 1000;
  }

  /** The time the view shows: the snapshot's own `now`, advanced by the local clock while live. */
  private now(): number | null {
    if (this.staleAt !== null) {
      return this.staleAt;
    }
    const run = this.snapshot.run ?? {};
    const base = snapshotNow(run);
    if (base === null || !this.options.live || isTerminal(this.snapshot) || num(run.now) === null) {
      return base;
    }
    return base + Math.max(0, this.clock() - this.receivedAt);
  }

  private syncTimer(): void {
    const wantTimer = Boolean(this.options.live) && !isTerminal(this.snapshot) && this.staleReason === null;
    if (wantTimer && this.timer === null) {
      this.timer = setInterval(() => this.render(), 1000);
    } else if (!wantTimer && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private render(): void {
    const run = this.snapshot.run ?? {};
    const now = this.now();
    this.node.setAttribute('data-status', runStatusLabel(run));
    this.renderHeader(run, now);
    this.renderActions(run);
    this.renderAxis(now);
    const omitted = num(this.snapshot.steps_omitted) ?? 0;
    this.omittedEl.hidden = omitted <= 0;
    this.omittedEl.textContent =
      omitted > 0 ? `… ${formatInt(omitted)} earlier step${omitted === 1 ? '' : 's'} not shown` : '';
    this.renderRows(now);
  }

  private renderHeader(run: RunInfo, now: number | null): void {
    const d = this.doc;
    const status = runStatusLabel(run);
    const stat = (label: string, value: string): HTMLElement =>
      h(d, 'span', { class: 'nbd-stat' }, [`${label} `, h(d, 'b', {}, [value])]);
    const done = num(run.steps_done) ?? 0;
    const total = num(run.steps_total) ?? done;
    const steps = (Array.isArray(this.snapshot.steps) ? this.snapshot.steps : []).filter(
      (s): s is StepInfo => Boolean(s) && typeof s === 'object',
    );
    const { title, runId } = runTitle(run);
    const replay = replaySummary(steps);
    const ai = hasAi(run, steps);
    const children: Child[] = [
      h(d, 'span', { class: 'nbd-fn' }, [title]),
      runId !== null ? h(d, 'span', { class: 'nbd-runid', title: 'run id' }, [runId]) : null,
      h(d, 'span', { class: 'nbd-badge', 'data-status': status }, [status]),
      h(d, 'div', { class: 'nbd-stats' }, [
        stat('elapsed', formatDuration(runElapsed(run, now)) || '-'),
        stat('steps', `${formatInt(done)} / ${formatInt(total)}`),
        replay ? h(d, 'span', { class: 'nbd-stat nbd-replay' }, [replay]) : null,
        ai ? stat('tokens', `${formatInt(num(run.tokens_in))} in / ${formatInt(num(run.tokens_out))} out`) : null,
        ai ? stat('cost', formatCost(num(run.cost))) : null,
        num(run.started_at) !== null ? stat('started', formatClock(num(run.started_at), now)) : null,
      ]),
    ];
    const gap = resumeGapText(steps, now);
    if (gap) {
      children.push(h(d, 'div', { class: 'nbd-reason nbd-gap' }, [gap]));
    }
    if (this.newerVersion !== null) {
      children.push(
        h(d, 'div', { class: 'nbd-reason nbd-newer' }, [
          `Saved by a newer nbdurable (timeline format ${this.newerVersion}); this view may leave some of it out. ` +
            'Update nbdurable to see all of it.',
        ]),
      );
    }
    const parent = str(run.rerun_of);
    if (parent) {
      const from = str(run.from_step);
      children.push(
        h(d, 'div', { class: 'nbd-reason nbd-rerun-of' }, [
          `Rerun of ${parent}${from ? ` from step ${from}` : ''}: the steps before it replayed from that run`,
        ]),
      );
    }
    const reason = str(run.status_reason);
    if (reason) {
      children.push(h(d, 'div', { class: 'nbd-reason' }, [reason]));
    }
    const waiting = run.waiting_for;
    if (waiting && !(this.options.onAction && this.snapshot.actions?.send_event)) {
      children.push(h(d, 'div', { class: 'nbd-reason' }, [waitingText(waiting.event, waiting.if_exp, waiting.timeout_at, now)]));
    }
    const warnings = Array.isArray(run.warnings) ? run.warnings : [];
    if (warnings.length > 0) {
      children.push(
        h(
          d,
          'ul',
          { class: 'nbd-warnings', 'aria-label': 'determinism warnings' },
          warnings.map(w => {
            const step = str(w?.step_id);
            return h(d, 'li', {}, [`⚠ ${str(w?.message) ?? ''}`, step ? h(d, 'span', { class: 'nbd-note' }, [` (step ${step})`]) : null]);
          }),
        ),
      );
    }
    if (run.error) {
      // A step's failure is told once, in that step's details (its traceback is there); only an error
      // raised outside any step shows its traceback here.
      const failedStep = str(run.error.step_id);
      const inStep = failedStep !== null && steps.some(s => str(s.step_id) === failedStep && s.error);
      const block = errorBlock(d, run.error, !inStep);
      if (inStep) {
        block.push(h(d, 'div', { class: 'nbd-note' }, [`in step ${failedStep}: open it for the traceback`]));
      }
      children.push(h(d, 'div', { class: 'nbd-run-error' }, block));
    }
    this.headerEl.replaceChildren(...children.filter((c): c is Node => c instanceof Node));
  }

  private renderActions(run: RunInfo): void {
    const onAction = this.options.onAction;
    const actions = this.snapshot.actions ?? {};
    const waiting = run.waiting_for ?? null;
    const key = JSON.stringify([Boolean(onAction), actions, waiting, run.status, this.staleReason]);
    if (key === this.actionsKey) {
      return;
    }
    this.actionsKey = key;
    const d = this.doc;
    const parts: HTMLElement[] = [];
    if (onAction && waiting && actions.send_event) {
      const event = str(waiting.event) ?? '';
      const textareaId = `${this.id}-payload`;
      const textarea = h(d, 'textarea', {
        id: textareaId,
        class: 'nbd-payload',
        spellcheck: 'false',
        'aria-label': `JSON payload for ${event}`,
      }) as HTMLTextAreaElement;
      textarea.value = waiting.suggested_data ? JSON.stringify(waiting.suggested_data) : '{}';
      const fieldError = h(d, 'div', { class: 'nbd-field-error', hidden: true });
      const send = h(d, 'button', { class: 'nbd-btn nbd-btn-primary nbd-send', type: 'button' }, [
        `Approve: send ${event}`,
      ]) as HTMLButtonElement;
      send.addEventListener('click', () => {
        let data: unknown;
        try {
          data = textarea.value.trim() === '' ? {} : JSON.parse(textarea.value);
        } catch (err) {
          fieldError.textContent = `The payload is not valid JSON: ${(err as Error).message}`;
          fieldError.hidden = false;
          return;
        }
        fieldError.hidden = true;
        send.disabled = true;
        this.setNotice(`Sending ${event}…`, 'info');
        onAction({ action: 'send_event', event, data, step_id: str(waiting.step_id) });
      });
      parts.push(
        h(d, 'div', { class: 'nbd-wait' }, [
          h(d, 'div', { class: 'nbd-wait-title' }, [
            waitingText(waiting.event, waiting.if_exp, waiting.timeout_at, snapshotNow(run), false),
          ]),
          h(d, 'label', { for: textareaId, class: 'nbd-note' }, ['Event data (JSON)']),
          textarea,
          fieldError,
          send,
        ]),
      );
    }
    if (onAction && actions.cancel) {
      const cancel = h(d, 'button', { class: 'nbd-btn nbd-btn-danger nbd-cancel', type: 'button' }, [
        'Cancel run',
      ]) as HTMLButtonElement;
      cancel.addEventListener('click', () => {
        cancel.disabled = true;
        this.setNotice('Cancelling…', 'info');
        onAction({ action: 'cancel' });
      });
      parts.push(cancel);
    }
    if (this.staleReason !== null) {
      // Nothing would carry the click to a kernel: keep the buttons in view, switched off.
      for (const control of parts.flatMap(p => [p, ...Array.from(p.querySelectorAll('button, textarea'))])) {
        if (control.tagName === 'BUTTON' || control.tagName === 'TEXTAREA') {
          (control as HTMLButtonElement | HTMLTextAreaElement).disabled = true;
        }
      }
    }
    this.actionsEl.replaceChildren(...parts);
  }

  /** Offer the rerun to the host first (a new cell below in JupyterLab), else ask the kernel through the widget. */
  private requestRerun(button: HTMLButtonElement, stepId: string): void {
    const runId = str(this.snapshot.run?.run_id) ?? '';
    const detail: RerunRequest = { run_id: runId, step_id: stepId };
    const event = new CustomEvent(RERUN_EVENT, { bubbles: true, cancelable: true, detail });
    if (!this.node.dispatchEvent(event)) {
      this.setNotice(`Rerunning ${runId} from ${stepId} in a new cell below.`, 'ok');
      return;
    }
    const onAction = this.options.onAction;
    if (onAction) {
      button.disabled = true;
      this.setNotice(`Rerunning from ${stepId}…`, 'info');
      onAction({ action: 'rerun', step_id: stepId });
    }
  }

  /** Draw again (after the host learnt it can rerun, say). */
  refresh(): void {
    if (!this.disposed) {
      this.render();
    }
  }

  private renderAxis(now: number | null): void {
    const d = this.doc;
    const axis = timeAxis(this.snapshot, now);
    if (axis === null || (this.snapshot.steps ?? []).length === 0) {
      this.axisEl.hidden = true;
      return;
    }
    this.axisEl.hidden = false;
    const ticks = [0, 0.25, 0.5, 0.75, 1].map(f => {
      // The start's wall-clock time is in the header ("started"); offsets keep the ticks short.
      const label = f === 0 ? '0' : `+${formatDuration(axis.span * f)}`;
      return h(d, 'span', { class: 'nbd-tick', style: `left:${f * 100}%` }, [label]);
    });
    this.axisEl.replaceChildren(
      h(d, 'span', { class: 'nbd-pos' }, ['#']),
      h(d, 'span', {}, ['step']),
      h(d, 'span', {}, ['kind']),
      h(d, 'span', {}, ['status']),
      h(d, 'span', { class: 'nbd-dur' }, ['duration']),
      h(d, 'div', { class: 'nbd-ticks' }, ticks),
    );
  }

  private renderRows(now: number | null): void {
    const d = this.doc;
    const steps = Array.isArray(this.snapshot.steps) ? this.snapshot.steps : [];
    const axis = timeAxis(this.snapshot, now);
    const host = Boolean(this.options.onAction) || Boolean(this.options.canRerunHere?.());
    const canRerun = host && Boolean(this.snapshot.actions?.rerun) && this.staleReason === null;
    const windowed = steps.length > WINDOW_ABOVE;
    this.rowsEl.classList.toggle('nbd-rows-windowed', windowed);
    // Keyed once per snapshot: a scroll redraws the window without walking every step again.
    if (this.keysOf !== steps) {
      this.keysOf = steps;
      this.keys = stepKeys(steps);
      this.keyIndex = new Map(this.keys.map((key, index) => [key, index]));
      for (const key of this.measured.keys()) {
        if (!this.keyIndex.has(key)) {
          this.measured.delete(key);
        }
      }
    }
    const keys = this.keys;
    const [first, last] = windowed ? this.visibleRange(keys) : [0, steps.length];
    const seen = new Set<string>();
    const ordered: HTMLElement[] = [];
    for (let index = first; index < last; index++) {
      const raw = steps[index];
      const step: StepInfo = raw && typeof raw === 'object' ? raw : {};
      const key = keys[index];
      seen.add(key);
      const state = this.rows.get(key) ?? this.createRow(key);
      this.rows.set(key, state);
      this.fillRow(state, key, step, index, axis, now, canRerun);
      ordered.push(state.step);
    }
    for (const [key, state] of this.rows) {
      if (!seen.has(key)) {
        state.step.remove();
        this.rows.delete(key);
      }
    }
    if (windowed) {
      // Spacers stand in for the rows above and below the window, so the scrollbar spans every step.
      this.padTop.style.height = `${this.offset(first)}px`;
      this.padBottom.style.height = `${this.offset(steps.length) - this.offset(last)}px`;
      ordered.unshift(this.padTop);
      ordered.push(this.padBottom);
    }
    // Move nodes only when out of place, so a focused row keeps its focus.
    ordered.forEach((node, i) => {
      if (this.rowsEl.children[i] !== node) {
        this.rowsEl.insertBefore(node, this.rowsEl.children[i] ?? null);
      }
    });
    if (steps.length === 0) {
      this.rowsEl.replaceChildren(h(d, 'div', { class: 'nbd-empty' }, ['No steps yet.']));
    } else {
      for (const extra of Array.from(this.rowsEl.children).slice(ordered.length)) {
        extra.remove();
      }
    }
    if (windowed) {
      this.measureRows();
    }
  }

  /** The rows a windowed list shows: those in its scrolled viewport, plus a few on each side. */
  private visibleRange(keys: string[]): [number, number] {
    const top = this.rowsEl.scrollTop;
    // jsdom (and a view not laid out yet) reports no height: draw a viewport's worth all the same.
    const height = this.rowsEl.clientHeight || DEFAULT_VIEWPORT_PX;
    let first = 0;
    let y = 0;
    while (first < keys.length && y + this.rowHeight(keys[first]) <= top) {
      y += this.rowHeight(keys[first]);
      first++;
    }
    let last = first;
    while (last < keys.length && y < top + height) {
      y += this.rowHeight(keys[last]);
      last++;
    }
    return [Math.max(0, first - OVERSCAN_ROWS), Math.min(keys.length, last + OVERSCAN_ROWS)];
  }

  /** The height of the rows before `index`: as measured where a row was drawn at another height, else the usual. */
  private offset(index: number): number {
    let y = index * this.closedRowPx;
    for (const [key, px] of this.measured) {
      const at = this.keyIndex.get(key);
      if (at !== undefined && at < index) {
        y += px - this.closedRowPx;
      }
    }
    return y;
  }

  private rowHeight(key: string): number {
    return this.measured.get(key) ?? this.closedRowPx;
  }

  /**
   * Remember the drawn rows' real heights: the first closed row measured sets the usual height, and
   * any row of another height (open, or wrapped) is remembered on its own, so the spacers stay true.
   */
  private measureRows(): void {
    for (const [key, state] of this.rows) {
      const px = state.step.offsetHeight;
      if (px <= 0) {
        continue; // not laid out (jsdom, a hidden output): keep the estimate
      }
      if (!this.rowPxMeasured && !this.open.has(key)) {
        this.closedRowPx = px;
        this.rowPxMeasured = true;
      }
      if (px === this.closedRowPx) {
        this.measured.delete(key);
      } else {
        this.measured.set(key, px);
      }
    }
  }

  private createRow(key: string): RowState {
    const d = this.doc;
    const detailId = `${this.id}-d-${this.rows.size}-${Math.random().toString(36).slice(2, 8)}`;
    const row = h(d, 'button', {
      class: 'nbd-row nbd-grid',
      type: 'button',
      'aria-expanded': 'false',
      'aria-controls': detailId,
    }) as HTMLButtonElement;
    const detail = h(d, 'div', { class: 'nbd-detail', id: detailId, hidden: true });
    const step = h(d, 'div', { class: 'nbd-step', role: 'listitem' }, [row, detail]);
    const state: RowState = { step, row, detail, detailKey: '' };
    row.addEventListener('click', () => {
      if (this.open.has(key)) {
        this.open.delete(key);
      } else {
        this.open.add(key);
      }
      this.render();
    });
    return state;
  }

  private fillRow(
    state: RowState,
    key: string,
    step: StepInfo,
    index: number,
    axis: { start: number; span: number } | null,
    now: number | null,
    canRerun: boolean,
  ): void {
    const d = this.doc;
    const status = str(step.status) ?? 'unknown';
    const replayed = Boolean(step.replayed);
    const name = str(step.name) ?? str(step.step_id) ?? `step ${index + 1}`;
    const label = stepStatusLabel(step, now);
    const position = num(step.position);
    state.step.setAttribute('data-status', status);
    state.step.setAttribute('data-replayed', String(replayed));
    state.step.setAttribute('data-step-id', str(step.step_id) ?? '');
    const bar = barGeometry(step, axis, now);
    const open = this.open.has(key);
    state.step.setAttribute('data-open', String(open));
    state.row.setAttribute('aria-expanded', String(open));
    state.row.title = `${name}: ${label}`;
    state.row.replaceChildren(
      h(d, 'span', { class: 'nbd-pos' }, [String(position !== null ? position + 1 : index + 1)]),
      h(d, 'span', { class: 'nbd-name' }, [
        replayed
          ? h(d, 'span', { class: 'nbd-replayed-mark', title: 'replayed from the journal', 'aria-label': 'replayed' }, ['↺'])
          : null,
        name,
      ]),
      h(d, 'span', { class: 'nbd-kind' }, [str(step.kind) ?? '']),
      h(d, 'span', { class: 'nbd-status' }, [label]),
      h(d, 'span', { class: 'nbd-dur' }, [formatDuration(stepDuration(step, now))]),
      h(d, 'span', { class: 'nbd-track' }, [
        bar ? h(d, 'span', { class: 'nbd-bar', style: `left:${bar.left}%;width:${bar.width}%` }) : null,
      ]),
    );
    state.detail.hidden = !open;
    if (!open) {
      return;
    }
    const detailKey = JSON.stringify([step, canRerun]);
    if (detailKey === state.detailKey) {
      return;
    }
    state.detailKey = detailKey;
    state.detail.replaceChildren(...this.buildDetail(step, canRerun));
  }

  private buildDetail(step: StepInfo, canRerun: boolean): HTMLElement[] {
    const d = this.doc;
    const now = snapshotNow(this.snapshot.run ?? {});
    const rows: Array<[string, Node | string]> = [];
    const add = (label: string, value: Node | string | null): void => {
      if (value !== null && value !== '') {
        rows.push([label, value]);
      }
    };
    add('step id', h(d, 'code', {}, [str(step.step_id) ?? '']));
    add('kind', str(step.kind));
    add('status', stepStatusLabel(step, now) + (step.replayed ? ' (from the journal)' : ''));
    const attempt = num(step.attempt);
    const max = num(step.max_attempts);
    if (attempt !== null) {
      add('attempts', max !== null ? `${attempt} of ${max}` : String(attempt));
    }
    add('started', formatClock(num(step.started_at), now));
    add('ended', formatClock(num(step.ended_at), now));
    if (num(step.ended_at) !== null) {
      add('duration', formatDuration(stepDuration(step, now)));
    }
    add('next attempt', formatClock(num(step.next_attempt_at), now));
    add('sleeps until', formatClock(num(step.sleep_until), now));
    add('waits for', str(step.wait_event));
    add('idempotency key', step.idempotency_key ? h(d, 'code', { class: 'nbd-idem' }, [str(step.idempotency_key) ?? '']) : null);
    const parts: HTMLElement[] = [
      h(
        d,
        'dl',
        {},
        rows.flatMap(([label, value]) => [h(d, 'dt', {}, [label]), h(d, 'dd', {}, [value])]),
      ),
    ];
    const input = str(step.input_preview);
    if (input !== null && input !== '') {
      parts.push(h(d, 'div', { class: 'nbd-section-title' }, ['Input']), h(d, 'pre', { class: 'nbd-input' }, [input]));
    }
    const output = str(step.output_preview);
    if (output !== null) {
      const size = num(step.output_size);
      const shown = utf8Length(output);
      let note = '';
      if (size !== null && size > shown) {
        note = ` (truncated: first ${formatBytes(shown)} of ${formatBytes(size)})`;
      } else if (size !== null) {
        note = ` (${formatBytes(size)})`;
      }
      parts.push(
        h(d, 'div', { class: 'nbd-section-title' }, ['Output', h(d, 'span', { class: 'nbd-note' }, [note])]),
        h(d, 'pre', { class: 'nbd-output' }, [output]),
      );
    }
    const attempts = Array.isArray(step.attempts) ? step.attempts : [];
    if (attempts.length > 0) {
      parts.push(
        h(d, 'div', { class: 'nbd-section-title' }, ['Failed attempts']),
        h(d, 'ol', { class: 'nbd-attempts' }, attempts.map((a, i) => h(d, 'li', {}, [attemptLine(a, i)]))),
      );
    }
    if (step.error) {
      parts.push(h(d, 'div', { class: 'nbd-step-error' }, errorBlock(d, step.error)));
    }
    const ai = step.ai;
    if (ai && typeof ai === 'object') {
      const aiRows: Array<[string, string]> = [
        ['model', [str(ai.model), str(ai.provider) ? `(${str(ai.provider)})` : null].filter(Boolean).join(' ')],
        ['tokens', `${formatInt(num(ai.tokens_in))} in / ${formatInt(num(ai.tokens_out))} out`],
        ['latency', formatDuration(num(ai.latency))],
        ['cost', formatCost(num(ai.cost))],
        ['price', formatPrice(ai.price)],
      ];
      parts.push(
        h(d, 'div', { class: 'nbd-section-title' }, ['AI call']),
        h(
          d,
          'dl',
          { class: 'nbd-ai' },
          aiRows.filter(([, v]) => v !== '').flatMap(([k, v]) => [h(d, 'dt', {}, [k]), h(d, 'dd', {}, [v])]),
        ),
      );
      const prompt = formatPayload(ai.request);
      if (prompt) {
        parts.push(h(d, 'div', { class: 'nbd-section-title' }, ['Prompt']), h(d, 'pre', { class: 'nbd-ai-request' }, [prompt]));
      }
      const response = formatPayload(ai.response);
      if (response) {
        parts.push(
          h(d, 'div', { class: 'nbd-section-title' }, ['Response']),
          h(d, 'pre', { class: 'nbd-ai-response' }, [response]),
        );
      }
    }
    const stepId = str(step.step_id);
    if (canRerun && stepId) {
      const rerun = h(d, 'button', { class: 'nbd-btn nbd-rerun', type: 'button' }, ['Rerun from this step']) as HTMLButtonElement;
      rerun.addEventListener('click', () => this.requestRerun(rerun, stepId));
      parts.push(h(d, 'div', {}, [rerun]));
    }
    return parts;
  }
}

function waitingText(
  event: string | null | undefined,
  ifExp: string | null | undefined,
  timeoutAt: number | null | undefined,
  now: number | null,
  withRelative = true,
): string {
  let text = `Waiting for event ${str(event) ?? '?'}`;
  const cond = str(ifExp);
  if (cond) {
    text += ` where ${cond}`;
  }
  const timeout = num(timeoutAt);
  if (timeout !== null) {
    text += `, times out ${formatClock(timeout, now)}`;
    const rel = withRelative ? formatRelative(timeout, now) : '';
    if (rel) {
      text += ` (${rel})`;
    }
  }
  return text;
}

/**
 * An error's title and, with `withTraceback`, its traceback: the user's frames (ending in the user's
 * code), and the full one, nbdurable's frames included, one click away.
 */
function errorBlock(d: Document, error: ErrorInfo, withTraceback = true): Node[] {
  const type = str(error.type) ?? 'Error';
  const message = str(error.message) ?? '';
  const nodes: Node[] = [h(d, 'div', { class: 'nbd-error-title' }, [message ? `${type}: ${message}` : type])];
  const full = str(error.traceback);
  const user = str(error.user_traceback);
  if (!withTraceback || !full) {
    return nodes;
  }
  nodes.push(h(d, 'pre', { class: 'nbd-traceback' }, [user || full]));
  if (user && user !== full) {
    nodes.push(
      h(d, 'details', { class: 'nbd-full-traceback' }, [
        h(d, 'summary', {}, ["Full traceback (nbdurable's frames included)"]),
        h(d, 'pre', { class: 'nbd-traceback-full' }, [full]),
      ]),
    );
  }
  return nodes;
}
