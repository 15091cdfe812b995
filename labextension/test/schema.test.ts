/**
 * The TypeScript interfaces and the snapshot's one schema (labextension/schema/snapshot.schema.json,
 * generated from nbdurable/timeline/_schema.py) name the same fields.
 *
 * Each key list below is checked by the compiler against its interface (`satisfies` a record of
 * every key: a missing key or an extra one does not type-check), and here against the schema.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type {
  Actions,
  AiInfo,
  ErrorInfo,
  PriceInfo,
  RunInfo,
  Snapshot,
  StepInfo,
  WaitingFor,
  AttemptError,
  AttemptInfo,
  Warning,
} from '../src/types';
import { sampleSnapshot } from './fixtures';

type Every<T> = Record<keyof Required<T>, true>;

const FIELDS: Record<string, string[]> = {
  Snapshot: Object.keys({ version: true, run: true, steps: true, steps_omitted: true, actions: true } satisfies Every<Snapshot>),
  RunInfo: Object.keys({
    run_id: true,
    function_id: true,
    status: true,
    started_at: true,
    ended_at: true,
    now: true,
    steps_done: true,
    steps_total: true,
    tokens_in: true,
    tokens_out: true,
    cost: true,
    warnings: true,
    error: true,
    status_reason: true,
    waiting_for: true,
    rerun_of: true,
    from_step: true,
  } satisfies Every<RunInfo>),
  StepInfo: Object.keys({
    step_id: true,
    name: true,
    kind: true,
    status: true,
    replayed: true,
    position: true,
    attempt: true,
    max_attempts: true,
    started_at: true,
    ended_at: true,
    next_attempt_at: true,
    sleep_until: true,
    wait_event: true,
    input_preview: true,
    output_preview: true,
    output_size: true,
    error: true,
    idempotency_key: true,
    ai: true,
    attempts: true,
  } satisfies Every<StepInfo>),
  AttemptInfo: Object.keys({
    attempt: true,
    started_at: true,
    ended_at: true,
    retry_at: true,
    error: true,
  } satisfies Every<AttemptInfo>),
  AttemptError: Object.keys({ type: true, message: true } satisfies Every<AttemptError>),
  AiInfo: Object.keys({
    model: true,
    provider: true,
    request: true,
    response: true,
    tokens_in: true,
    tokens_out: true,
    latency: true,
    cost: true,
    price: true,
  } satisfies Every<AiInfo>),
  PriceInfo: Object.keys({ source: true, as_of: true, model: true, provider: true } satisfies Every<PriceInfo>),
  ErrorInfo: Object.keys({
    type: true,
    message: true,
    traceback: true,
    user_traceback: true,
    step_id: true,
  } satisfies Every<ErrorInfo>),
  WarningInfo: Object.keys({ message: true, step_id: true } satisfies Every<Warning>),
  WaitingFor: Object.keys({
    step_id: true,
    event: true,
    if_exp: true,
    timeout_at: true,
    suggested_data: true,
  } satisfies Every<WaitingFor>),
  Actions: Object.keys({ send_event: true, cancel: true, rerun: true } satisfies Every<Actions>),
};

interface JsonSchema {
  properties: Record<string, unknown>;
  $defs: Record<string, { properties: Record<string, unknown>; additionalProperties?: boolean }>;
}

const schema: JsonSchema = JSON.parse(readFileSync(join(__dirname, '..', 'schema', 'snapshot.schema.json'), 'utf8'));

describe('the snapshot schema', () => {
  it('describes the same types as the TypeScript interfaces', () => {
    expect(Object.keys(schema.$defs).concat('Snapshot').sort()).toEqual(Object.keys(FIELDS).sort());
  });

  for (const [name, fields] of Object.entries(FIELDS)) {
    it(`gives ${name} the fields its interface has`, () => {
      const properties = name === 'Snapshot' ? schema.properties : schema.$defs[name].properties;
      expect(Object.keys(properties).sort()).toEqual([...fields].sort());
    });
  }

  it('has room for every field of the shared sample', () => {
    const sample = sampleSnapshot();
    for (const key of Object.keys(sample)) expect(FIELDS.Snapshot).toContain(key);
    for (const key of Object.keys(sample.run ?? {})) expect(FIELDS.RunInfo).toContain(key);
    for (const step of sample.steps ?? []) {
      for (const key of Object.keys(step)) expect(FIELDS.StepInfo).toContain(key);
    }
  });
});
