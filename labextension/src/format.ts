/**
 * Formatting of times, sizes and statuses for the timeline.
 *
 * Kept free of the DOM so it is unit-tested directly, and written to match
 * nbdurable/_timeline.py line for line: the live widget, the JupyterLab
 * renderer and the saved static HTML say the same thing about the same run.
 */

import type { AttemptInfo, RunInfo, Snapshot, StepInfo } from './types';

export const TERMINAL_RUN_STATUSES = new Set(['completed', 'failed', 'cancelled', 'skipped', 'interrupted']);

/** A finite number or null: snapshots come from JSON and may hold anything. */
export function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A string or null; numbers are shown as text, other values are dropped. */
export function str(value: unknown): string | null {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value);
  }
  return null;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** A duration in seconds, short and readable: 350 ms, 12.3 s, 4m 05s, 3h 02m, 2d 03h. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, seconds);
  if (s < 1) {
    return `${Math.round(s * 1000)} ms`;
  }
  if (s < 60) {
    return `${(Math.floor(s * 10) / 10).toFixed(1)} s`;
  }
  const total = Math.floor(s);
  if (total < 3600) {
    return `${Math.floor(total / 60)}m ${pad2(total % 60)}s`;
  }
  if (total < 86400) {
    return `${Math.floor(total / 3600)}h ${pad2(Math.floor((total % 3600) / 60))}m`;
  }
  return `${Math.floor(total / 86400)}d ${pad2(Math.floor((total % 86400) / 3600))}h`;
}

/**
 * A wall-clock time in UTC.
 *
 * UTC rather than the browser's zone because the static HTML is rendered in the
 * kernel, which cannot know the reader's zone; both views must agree.
 */
export function formatClock(epoch: number | null, now: number | null = null): string {
  if (epoch === null || !Number.isFinite(epoch)) {
    return '';
  }
  const d = new Date(epoch * 1000);
  const time = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const sameDay =
    now !== null &&
    Number.isFinite(now) &&
    new Date(now * 1000).toISOString().slice(0, 10) === d.toISOString().slice(0, 10);
  if (sameDay) {
    return `${time} UTC`;
  }
  return `${d.toISOString().slice(0, 10)} ${time} UTC`;
}

/** "in 4m 05s" or "4m 05s ago" relative to now. */
export function formatRelative(epoch: number | null, now: number | null): string {
  if (epoch === null || now === null) {
    return '';
  }
  const delta = epoch - now;
  return delta >= 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

/** Bytes as B, KiB, MiB, GiB with one decimal above 1 KiB. */
export function formatBytes(size: number | null): string {
  if (size === null || !Number.isFinite(size) || size < 0) {
    return '';
  }
  if (size < 1024) {
    return `${Math.round(size)} B`;
  }
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A cost in dollars; null means the price of the model is not known. */
export function formatCost(cost: number | null): string {
  if (cost === null) {
    return 'unknown';
  }
  return cost >= 1 ? `$${cost.toFixed(2)}` : `$${cost.toFixed(4)}`;
}

/** Where a cost's price came from: "genai-prices 0.2.3, as of 2026-01-01 (openai gpt-4o)"; "" when unknown. */
export function formatPrice(price: unknown): string {
  if (!price || typeof price !== 'object' || Array.isArray(price)) {
    return '';
  }
  const p = price as Record<string, unknown>;
  const source = str(p.source);
  if (!source) {
    return '';
  }
  const asOf = str(p.as_of);
  const priced = [str(p.provider), str(p.model)].filter(Boolean).join(' ');
  return source + (asOf ? `, as of ${asOf}` : '') + (priced ? ` (${priced})` : '');
}

/** An integer with thousands separators, independent of the browser locale. */
export function formatInt(n: number | null): string {
  if (n === null) {
    return '0';
  }
  const sign = n < 0 ? '-' : '';
  const digits = String(Math.round(Math.abs(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Byte length of a string in UTF-8, to tell whether a preview is truncated. */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The moment the snapshot describes: the run's end once it ended, else its `now`. */
export function snapshotNow(run: RunInfo): number | null {
  return num(run.now) ?? num(run.ended_at) ?? num(run.started_at);
}

/** Seconds a step took, or has taken so far if it has not ended. */
export function stepDuration(step: StepInfo, now: number | null): number | null {
  const start = num(step.started_at);
  if (start === null) {
    return null;
  }
  const end = num(step.ended_at) ?? now;
  return end === null ? null : Math.max(0, end - start);
}

/** Seconds the run took, or has taken so far. */
export function runElapsed(run: RunInfo, now: number | null): number | null {
  const start = num(run.started_at);
  if (start === null) {
    return null;
  }
  const end = num(run.ended_at) ?? now;
  return end === null ? null : Math.max(0, end - start);
}

/** The status text of a step row: replayed, running, retrying 2 of 3, sleeping until 12:00:00 UTC, ... */
export function stepStatusLabel(step: StepInfo, now: number | null): string {
  const status = str(step.status) ?? 'unknown';
  const attempt = num(step.attempt);
  const max = num(step.max_attempts);
  switch (status) {
    case 'completed':
      if (step.replayed) {
        return 'replayed';
      }
      // A step that needed retries says so: its earlier attempts failed.
      return attempt !== null && max !== null && attempt > 1 ? `completed (attempt ${attempt} of ${max})` : 'completed';
    case 'running':
      return attempt !== null && max !== null && attempt > 1 ? `running (attempt ${attempt} of ${max})` : 'running';
    case 'retrying': {
      const base = attempt !== null && max !== null ? `retrying ${attempt} of ${max}` : 'retrying';
      const next = num(step.next_attempt_at);
      return next !== null && now !== null && next > now ? `${base}, next ${formatRelative(next, now)}` : base;
    }
    case 'sleeping': {
      const until = num(step.sleep_until);
      return until === null ? 'sleeping' : `sleeping until ${formatClock(until, now)}`;
    }
    case 'waiting': {
      const event = str(step.wait_event);
      return event ? `waiting for ${event}` : 'waiting for an event';
    }
    case 'failed':
      return attempt !== null && max !== null && max > 1 ? `failed (attempt ${attempt} of ${max})` : 'failed';
    case 'cancelled':
      return 'cancelled';
    default:
      return status;
  }
}

/** The status of the run as shown in the header badge. */
export function runStatusLabel(run: RunInfo): string {
  return str(run.status) ?? 'unknown';
}

/** True when the run cannot change any more, so the view needs no clock. */
export function isTerminal(snapshot: Snapshot): boolean {
  return TERMINAL_RUN_STATUSES.has(str(snapshot.run?.status) ?? '');
}

/** A request or response body: strings as they are, anything else as indented JSON. */
export function formatPayload(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (value === undefined || value === null) {
    return '';
  }
  try {
    return JSON.stringify(value, null, 2) ?? '';
  } catch {
    return String(value);
  }
}

/**
 * Start of the shared time axis and its length in seconds (never zero).
 *
 * `now` is the moment the view shows (the live view's clock, which moves on during
 * sleeps and waits when the kernel sends nothing); by default the snapshot's own.
 */
export function timeAxis(snapshot: Snapshot, now: number | null = snapshotNow(snapshot.run ?? {})): { start: number; span: number } | null {
  const run = snapshot.run ?? {};
  const starts: number[] = [];
  const ends: number[] = [];
  const runStart = num(run.started_at);
  if (runStart !== null) {
    starts.push(runStart);
  }
  const runEnd = num(run.ended_at) ?? now;
  if (runEnd !== null) {
    ends.push(runEnd);
  }
  for (const step of snapshot.steps ?? []) {
    const s = num(step?.started_at);
    if (s !== null) {
      starts.push(s);
      ends.push(s);
    }
    const e = num(step?.ended_at);
    if (e !== null) {
      ends.push(e);
    }
  }
  if (starts.length === 0) {
    return null;
  }
  const start = Math.min(...starts);
  const end = Math.max(start, ...ends);
  return { start, span: Math.max(end - start, 1e-3) };
}

/** Where a step's bar sits on the axis, in percent of the axis width. */
export function barGeometry(
  step: StepInfo,
  axis: { start: number; span: number } | null,
  now: number | null,
): { left: number; width: number } | null {
  const s = num(step.started_at);
  if (axis === null || s === null) {
    return null;
  }
  const e = num(step.ended_at) ?? now ?? s;
  const clamp = (x: number): number => Math.min(100, Math.max(0, x));
  const left = clamp(((s - axis.start) / axis.span) * 100);
  const width = clamp(((Math.max(e, s) - s) / axis.span) * 100);
  return { left: round2(left), width: round2(Math.min(width, 100 - left)) };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The header's title and the run id worth showing beside it (none when it would repeat a `%%durable` cell's name). */
export function runTitle(run: RunInfo): { title: string; runId: string | null } {
  const fn = str(run.function_id) ?? 'run';
  const runId = str(run.run_id);
  if (fn.startsWith('cell:')) {
    const cell = fn.slice('cell:'.length);
    return { title: `%%durable ${cell}`, runId: runId === cell ? null : runId };
  }
  return { title: fn, runId };
}

/** How many steps shown came from the journal and how many ran in this execution. */
export function replayCounts(steps: readonly StepInfo[]): { replayed: number; ran: number } {
  let replayed = 0;
  let ran = 0;
  for (const step of steps) {
    if (!step || typeof step !== 'object' || str(step.kind) === 'value') {
      continue;
    }
    if (step.replayed) {
      replayed += 1;
    } else if (num(step.started_at) !== null) {
      ran += 1;
    }
  }
  return { replayed, ran };
}

/** "6 replayed · 3 ran" when some steps were replayed, else "". */
export function replaySummary(steps: readonly StepInfo[]): string {
  const { replayed, ran } = replayCounts(steps);
  return replayed > 0 ? `${formatInt(replayed)} replayed · ${formatInt(ran)} ran` : '';
}

/** Whether the run made AI calls: only then do tokens and cost mean anything. */
export function hasAi(run: RunInfo, steps: readonly StepInfo[]): boolean {
  return (
    (num(run.tokens_in) ?? 0) > 0 ||
    (num(run.tokens_out) ?? 0) > 0 ||
    (num(run.cost) ?? 0) > 0 ||
    steps.some(s => Boolean(s && typeof s === 'object' && s.ai && typeof s.ai === 'object'))
  );
}

/**
 * When the run stopped and was picked up again: the last replayed step's end and the first
 * step run after it. Null when nothing was replayed, nothing ran after the replay, or it went on at once.
 */
export function resumeGap(steps: readonly StepInfo[]): { stopped: number; resumed: number } | null {
  let stopped: number | null = null;
  for (const step of steps) {
    if (step && typeof step === 'object' && step.replayed) {
      const end = num(step.ended_at) ?? num(step.started_at);
      if (end !== null && (stopped === null || end > stopped)) {
        stopped = end;
      }
    }
  }
  if (stopped === null) {
    return null;
  }
  let resumed: number | null = null;
  for (const step of steps) {
    if (step && typeof step === 'object' && !step.replayed && str(step.kind) !== 'value') {
      const start = num(step.started_at);
      if (start !== null && start >= stopped && (resumed === null || start < resumed)) {
        resumed = start;
      }
    }
  }
  // Under a second apart is one execution going on (a replay is followed at once by the next step).
  return resumed === null || resumed - stopped < 1 ? null : { stopped, resumed };
}

/** The header line saying where the run was not running: "Stopped 12:00:05 UTC, resumed 12:03:10 UTC (3m 05s later)". */
export function resumeGapText(steps: readonly StepInfo[], now: number | null): string {
  const gap = resumeGap(steps);
  if (gap === null) {
    return '';
  }
  return (
    `Stopped ${formatClock(gap.stopped, now)}, resumed ${formatClock(gap.resumed, now)} ` +
    `(${formatDuration(gap.resumed - gap.stopped)} later)`
  );
}

/** One failed attempt: "Attempt 1 failed after 1.2 s: ValueError: bad input; retried 2.0 s later". */
export function attemptLine(a: AttemptInfo, index: number): string {
  const n = num(a?.attempt) ?? index + 1;
  const start = num(a?.started_at);
  const end = num(a?.ended_at);
  const took = start !== null && end !== null ? ` after ${formatDuration(Math.max(0, end - start))}` : '';
  const type = str(a?.error?.type) ?? 'Error';
  const message = str(a?.error?.message);
  const retry = num(a?.retry_at);
  const backoff = retry !== null && end !== null ? `; retried ${formatDuration(Math.max(0, retry - end))} later` : '';
  return `Attempt ${n} failed${took}: ${message ? `${type}: ${message}` : type}${backoff}`;
}
