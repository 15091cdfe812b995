/** A run snapshot with one step of each interesting state, shared by the renderer tests. */

import type { Snapshot, StepInfo } from '../src/types';

export const T0 = 1_767_268_800; // 2026-01-01 12:00:00 UTC

export function step(overrides: Partial<StepInfo>): StepInfo {
  return {
    step_id: 'step',
    name: 'step',
    kind: 'run',
    status: 'completed',
    replayed: false,
    position: 0,
    attempt: 1,
    max_attempts: 4,
    started_at: T0,
    ended_at: T0 + 1,
    next_attempt_at: null,
    sleep_until: null,
    wait_event: null,
    input_preview: null,
    output_preview: null,
    output_size: null,
    error: null,
    idempotency_key: 'run-1:step',
    ai: null,
    ...overrides,
  };
}

export function sampleSnapshot(): Snapshot {
  return {
    version: 1,
    run: {
      run_id: 'run-1',
      function_id: 'resolve-ticket',
      status: 'waiting',
      started_at: T0,
      ended_at: null,
      now: T0 + 60,
      steps_done: 3,
      steps_total: 6,
      tokens_in: 1200,
      tokens_out: 345,
      cost: 0.0123,
      warnings: [{ message: 'time.time() called outside a step', step_id: null }],
      error: null,
      status_reason: null,
      waiting_for: { step_id: 'approval', event: 'support/ticket.approved', if_exp: null, timeout_at: T0 + 3600 },
    },
    steps: [
      step({
        step_id: 'summarize',
        name: 'summarize',
        position: 0,
        replayed: true,
        started_at: T0,
        ended_at: T0 + 2,
        input_preview: '{"body": "my order is late"}',
        output_preview: '"The customer',
        output_size: 2048,
      }),
      step({
        step_id: 'plan',
        name: 'plan',
        kind: 'ai',
        position: 1,
        started_at: T0 + 2,
        ended_at: T0 + 5.5,
        ai: {
          model: 'gpt-4o',
          provider: 'openai',
          request: { messages: [{ role: 'user', content: 'Plan a refund' }] },
          response: 'Refund the charge',
          tokens_in: 1200,
          tokens_out: 345,
          latency: 3.5,
          cost: 0.0123,
          price: { source: 'genai-prices 0.2.3', as_of: '2026-01-01', model: 'gpt-4o', provider: 'openai' },
        },
      }),
      step({
        step_id: 'lookup',
        name: 'lookup',
        position: 2,
        status: 'retrying',
        attempt: 2,
        max_attempts: 4,
        started_at: T0 + 5.5,
        ended_at: null,
        next_attempt_at: T0 + 90,
        error: { type: 'TimeoutError', message: 'upstream timed out', traceback: 'Traceback (most recent call last):\n  ...' },
      }),
      step({
        step_id: 'approval',
        name: 'approval',
        kind: 'wait',
        position: 3,
        status: 'waiting',
        started_at: T0 + 6,
        ended_at: null,
        wait_event: 'support/ticket.approved',
      }),
    ],
    steps_omitted: 0,
    actions: { send_event: true, cancel: true, rerun: true },
  };
}
