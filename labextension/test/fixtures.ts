/**
 * The run snapshots shared by the renderer tests: read from tests/fixtures/timeline.json, which the
 * Python tests read too (tests/timeline_samples.py), with the texts and colours both renderers must show.
 */

import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { Snapshot, StepInfo } from '../src/types';

interface ExpectedRow {
  step_id: string;
  number: string;
  status: string;
  duration: string;
}

interface Fixtures {
  T0: number;
  hostile: string;
  step: StepInfo;
  snapshots: { waiting: Snapshot; completed: Snapshot };
  expected: {
    durations: [number | null, string][];
    rows: { waiting: ExpectedRow[]; completed: ExpectedRow[] };
    colours: Record<string, string>;
    status_colours: Record<string, string>;
  };
}

export const FIXTURES: Fixtures = JSON.parse(
  readFileSync(path.resolve(__dirname, '..', '..', 'tests', 'fixtures', 'timeline.json'), 'utf8'),
);

export const T0 = FIXTURES.T0; // 2026-01-01 12:00:00 UTC

export function step(overrides: Partial<StepInfo>): StepInfo {
  return { ...JSON.parse(JSON.stringify(FIXTURES.step)), ...overrides };
}

/** A run waiting for an approval: replayed, AI, retrying and waiting steps. */
export function sampleSnapshot(): Snapshot {
  return JSON.parse(JSON.stringify(FIXTURES.snapshots.waiting));
}

/** The same run after approval: every step done. */
export function completedSnapshot(): Snapshot {
  return JSON.parse(JSON.stringify(FIXTURES.snapshots.completed));
}
