import { describe, expect, it } from 'vitest';

import {
  barGeometry,
  formatBytes,
  formatClock,
  formatCost,
  formatPrice,
  formatDuration,
  formatInt,
  formatPayload,
  isTerminal,
  stepStatusLabel,
  timeAxis,
} from '../src/format';
import { T0, sampleSnapshot, step } from './fixtures';

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [0.3504, '350 ms'],
    [1, '1.0 s'],
    [12.37, '12.3 s'],
    [59.99, '59.9 s'],
    [60, '1m 00s'],
    [245, '4m 05s'],
    [3600 * 3 + 120, '3h 02m'],
    [86400 * 2 + 3600 * 3, '2d 03h'],
    [-5, '0 ms'],
  ])('%s s -> %s', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });

  it('is empty for unknown durations', () => {
    expect(formatDuration(null)).toBe('');
    expect(formatDuration(Number.NaN)).toBe('');
  });
});

describe('formatClock', () => {
  it('shows only the time on the same UTC day', () => {
    expect(formatClock(T0 + 61, T0)).toBe('12:01:01 UTC');
  });
  it('shows the date on another day', () => {
    expect(formatClock(T0 + 86400, T0)).toBe('2026-01-02 12:00:00 UTC');
    expect(formatClock(T0, null)).toBe('2026-01-01 12:00:00 UTC');
  });
});

describe('sizes, costs, counts', () => {
  it('formats bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.0 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatBytes(null)).toBe('');
  });
  it('formats cost, with unknown for null', () => {
    expect(formatCost(null)).toBe('unknown');
    expect(formatCost(0.0123)).toBe('$0.0123');
    expect(formatCost(12.345)).toBe('$12.35');
    const price = { source: 'nd.ai.set_price', as_of: '2026-02-01', model: 'llama3', provider: 'openai' };
    expect(formatPrice(price)).toBe('nd.ai.set_price, as of 2026-02-01 (openai llama3)');
    expect(formatPrice({ source: 'genai-prices 0.2.3' })).toBe('genai-prices 0.2.3');
    expect(formatPrice(null)).toBe('');
    expect(formatPrice({ as_of: '2026-01-01' })).toBe('');
    expect(formatPrice('x')).toBe('');
  });
  it('groups thousands without the locale', () => {
    expect(formatInt(1234567)).toBe('1,234,567');
    expect(formatInt(-1000)).toBe('-1,000');
    expect(formatInt(null)).toBe('0');
  });
  it('prints payloads', () => {
    expect(formatPayload('hi')).toBe('hi');
    expect(formatPayload({ a: 1 })).toBe('{\n  "a": 1\n}');
    expect(formatPayload(null)).toBe('');
  });
});

describe('stepStatusLabel', () => {
  const now = T0 + 60;
  it.each([
    [step({ status: 'completed', replayed: true }), 'replayed'],
    [step({ status: 'completed' }), 'completed'],
    [step({ status: 'completed', attempt: 3, max_attempts: 4 }), 'completed (attempt 3 of 4)'],
    [step({ status: 'completed', attempt: 3, max_attempts: 4, replayed: true }), 'replayed'],
    [step({ status: 'running', attempt: 1 }), 'running'],
    [step({ status: 'running', attempt: 3, max_attempts: 4 }), 'running (attempt 3 of 4)'],
    [step({ status: 'retrying', attempt: 2, max_attempts: 4 }), 'retrying 2 of 4'],
    [step({ status: 'retrying', attempt: 2, max_attempts: 4, next_attempt_at: now + 30 }), 'retrying 2 of 4, next in 30.0 s'],
    [step({ status: 'sleeping', sleep_until: T0 + 3600 }), 'sleeping until 13:00:00 UTC'],
    [step({ status: 'waiting', wait_event: 'approved' }), 'waiting for approved'],
    [step({ status: 'waiting', wait_event: null }), 'waiting for an event'],
    [step({ status: 'failed', attempt: 4, max_attempts: 4 }), 'failed (attempt 4 of 4)'],
    [step({ status: 'failed', attempt: 1, max_attempts: 1 }), 'failed'],
    [step({ status: 'cancelled' }), 'cancelled'],
    [step({ status: 'something-new' }), 'something-new'],
  ])('%#: %s', (s, expected) => {
    expect(stepStatusLabel(s, now)).toBe(expected);
  });
});

describe('time axis', () => {
  it('spans from the first start to now while running', () => {
    const axis = timeAxis(sampleSnapshot());
    expect(axis).toEqual({ start: T0, span: 60 });
  });
  it('places bars in percent and clamps them', () => {
    const axis = { start: T0, span: 100 };
    expect(barGeometry(step({ started_at: T0 + 10, ended_at: T0 + 35 }), axis, T0 + 50)).toEqual({ left: 10, width: 25 });
    // a running step reaches to now
    expect(barGeometry(step({ started_at: T0 + 90, ended_at: null }), axis, T0 + 100)).toEqual({ left: 90, width: 10 });
    // a step ending past the axis never overflows it
    expect(barGeometry(step({ started_at: T0 + 90, ended_at: T0 + 500 }), axis, null)).toEqual({ left: 90, width: 10 });
    expect(barGeometry(step({ started_at: null }), axis, null)).toBeNull();
  });
  it('has no axis without times', () => {
    expect(timeAxis({})).toBeNull();
  });
  it('knows terminal runs', () => {
    expect(isTerminal({ run: { status: 'completed' } })).toBe(true);
    expect(isTerminal({ run: { status: 'waiting' } })).toBe(false);
    expect(isTerminal({})).toBe(false);
  });
});
