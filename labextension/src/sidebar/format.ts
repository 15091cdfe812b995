/** Short texts the sidebar shows for a run: how long ago, its progress, why it is where it is. */

import { formatDuration } from '../format';
import type { RunSummary } from './api';

/** "just now", "5 s ago", "3 min ago", "2 h ago", "4 d ago" (seconds since the epoch). */
export function ago(epoch: number, now: number): string {
  const seconds = Math.max(0, now - epoch);
  if (seconds < 5) {
    return 'just now';
  }
  if (seconds < 60) {
    return `${Math.floor(seconds)} s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** "3 / 8 steps", with failures and retries when there were any. */
export function progress(run: RunSummary): string {
  const total = Math.max(run.steps_total, run.steps_done);
  let text = `${run.steps_done} / ${total} step${total === 1 ? '' : 's'}`;
  if (run.steps_failed > 0) {
    text += `, ${run.steps_failed} failed`;
  }
  if (run.step_attempts > 0) {
    text += `, ${run.step_attempts} retr${run.step_attempts === 1 ? 'y' : 'ies'}`;
  }
  return text;
}

/** The one line that says why the run is in its status (its reason, its error, how long it took). */
export function detail(run: RunSummary): string {
  if (run.error && (run.error.message || run.error.type)) {
    const where = run.error.step_id ? ` (step ${run.error.step_id})` : '';
    return `${run.error.type ?? 'Error'}${run.error.message ? `: ${run.error.message}` : ''}${where}`;
  }
  if (run.status_reason) {
    return run.status_reason;
  }
  if (run.ended_at !== null && run.status === 'completed') {
    return `took ${formatDuration(run.ended_at - run.started_at)}`;
  }
  return '';
}
