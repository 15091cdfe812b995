/**
 * The TypeScript renderer against tests/fixtures/timeline.json's expected texts and colours: the
 * same expectations tests/timeline/test_shared_fixtures.py holds the static renderer to, so the
 * live view and a saved notebook's static view say the same thing in the same colours.
 */

import { describe, expect, it } from 'vitest';

import { formatDuration } from '../src/format';
import { TimelineView } from '../src/renderer';
import { CSS } from '../src/style';
import type { Snapshot } from '../src/types';
import { FIXTURES } from './fixtures';

const { expected } = FIXTURES;

/** The declarations of the first rule whose selector is exactly `selector`, as name -> value. */
function declarations(css: string, selector: string): Record<string, string> {
  const start = css.indexOf(`${selector} {`);
  expect(start, `no rule for ${selector}`).toBeGreaterThanOrEqual(0);
  const body = css.slice(css.indexOf('{', start) + 1, css.indexOf('}', start));
  const out: Record<string, string> = {};
  for (const part of body.split(';')) {
    const colon = part.indexOf(':');
    if (colon > 0) {
      out[part.slice(0, colon).trim()] = part.slice(colon + 1).trim();
    }
  }
  return out;
}

describe('shared fixtures', () => {
  it.each(expected.durations)('formats a duration of %s s as %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });

  it.each(['waiting', 'completed'] as const)('draws the %s snapshot with the expected rows', name => {
    const host = document.createElement('div');
    new TimelineView(host, { host: 'test' }).update(JSON.parse(JSON.stringify(FIXTURES.snapshots[name])) as Snapshot);
    const rows = Array.from(host.querySelectorAll<HTMLElement>('.nbd-step')).map(row => ({
      step_id: row.getAttribute('data-step-id'),
      number: row.querySelector('.nbd-pos')!.textContent,
      status: row.querySelector('.nbd-status')!.textContent,
      duration: row.querySelector('.nbd-dur')!.textContent,
    }));
    expect(rows).toEqual(expected.rows[name]);
  });

  it('declares the palette colours with the expected fallbacks', () => {
    const declared = declarations(CSS, '.nbd-timeline');
    const colours = Object.fromEntries(Object.entries(declared).filter(([name]) => name in expected.colours));
    expect(colours).toEqual(expected.colours);
  });

  it('gives each status the expected colour', () => {
    for (const [status, colour] of Object.entries(expected.status_colours)) {
      expect(declarations(CSS, `.nbd-timeline [data-status="${status}"]`)).toEqual({ '--nbd-c': `var(${colour})` });
    }
  });
});
