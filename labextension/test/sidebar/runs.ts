/** Runs as the REST API lists them, for the sidebar's tests. */

import type { RunList, RunSummary } from '../../src/sidebar/api';

export const T0 = 1_795_789_000;

export function run(runId: string, fields: Partial<RunSummary> = {}): RunSummary {
  return {
    run_id: runId,
    journal: '.nbdurable/journal.db',
    function_id: 'pipeline',
    kind: 'function',
    status: 'completed',
    status_reason: null,
    trigger: null,
    notebook: null,
    cell_id: null,
    parent_run_id: null,
    rerun_of: null,
    from_step: null,
    attempt: 1,
    started_at: T0,
    updated_at: T0,
    ended_at: null,
    steps_done: 0,
    steps_total: 0,
    steps_failed: 0,
    step_attempts: 0,
    tokens_in: 0,
    tokens_out: 0,
    cost: null,
    error: null,
    ...fields,
  };
}

export function page(runs: RunSummary[], fields: Partial<RunList> = {}): RunList {
  const counts: Record<string, number> = {};
  for (const r of runs) {
    counts[r.status] = (counts[r.status] ?? 0) + 1;
  }
  return { runs, next_cursor: null, total: runs.length, counts, errors: [], ...fields };
}
