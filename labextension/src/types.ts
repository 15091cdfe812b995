/**
 * The snapshot a run's timeline is drawn from (format version 1; see `snapshot.ts` for versions).
 *
 * Its one schema is `labextension/schema/snapshot.schema.json`, generated from the Python
 * definition (`nbdurable/timeline/_schema.py`); `test/schema.test.ts` checks that these
 * interfaces name exactly its fields.
 *
 * The engine produces it (`engine.snapshot(run_id)`), the widget syncs it, the
 * MIME bundle stores it under `application/vnd.nbdurable.timeline+json`. Every
 * field may be missing or null in a snapshot from an older or newer writer, so
 * the renderer reads it defensively.
 */

export const MIME_TYPE = 'application/vnd.nbdurable.timeline+json';

/** DOM event (bubbling, detail = snapshot) the live widget fires on each update, for its JupyterLab host. */
export const LIVE_SNAPSHOT_EVENT = 'nbdurable:snapshot';

/**
 * DOM event (bubbling, cancelable, detail = RerunRequest) a "Rerun from this step" button fires first.
 * A host that can start the rerun where the user sees it (JupyterLab: a new cell below, running
 * `%durable rerun`) cancels it; otherwise the live widget asks its kernel.
 */
export const RERUN_EVENT = 'nbdurable:rerun';

export interface RerunRequest {
  run_id: string;
  step_id: string;
}

/** What a live timeline says once its kernel stopped (restarted, died or shut down). */
export const KERNEL_STOPPED = 'Kernel stopped: run the cell again to resume.';

export type RunStatus =
  | 'running'
  | 'sleeping'
  | 'waiting'
  | 'queued'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'interrupted';

export type StepStatus = 'running' | 'completed' | 'failed' | 'retrying' | 'sleeping' | 'waiting' | 'cancelled';

export type StepKind = 'run' | 'sleep' | 'wait' | 'invoke' | 'send' | 'ai' | 'value';

export interface ErrorInfo {
  type?: string | null;
  message?: string | null;
  /** The full traceback, nbdurable's frames included. */
  traceback?: string | null;
  /** The traceback with nbdurable's and libraries' frames left out: it ends in the user's code. */
  user_traceback?: string | null;
  /** The step that failed, on a run's error. */
  step_id?: string | null;
}

export interface Warning {
  message?: string | null;
  step_id?: string | null;
}

export interface WaitingFor {
  step_id?: string | null;
  event?: string | null;
  if_exp?: string | null;
  timeout_at?: number | null;
  /** A payload that satisfies the wait's condition where the engine can tell (agent approvals). */
  suggested_data?: Record<string, unknown> | null;
}

export interface AiInfo {
  model?: string | null;
  provider?: string | null;
  request?: unknown;
  response?: unknown;
  tokens_in?: number | null;
  tokens_out?: number | null;
  latency?: number | null;
  cost?: number | null;
  /** Where the cost's price came from (genai-prices and its version, or nd.ai.set_price), and its date. */
  price?: PriceInfo | null;
}

export interface PriceInfo {
  source?: string | null;
  as_of?: string | null;
  model?: string | null;
  provider?: string | null;
}

export interface RunInfo {
  run_id?: string | null;
  function_id?: string | null;
  status?: RunStatus | string | null;
  started_at?: number | null;
  ended_at?: number | null;
  now?: number | null;
  steps_done?: number | null;
  steps_total?: number | null;
  tokens_in?: number | null;
  tokens_out?: number | null;
  cost?: number | null;
  warnings?: Warning[] | null;
  error?: ErrorInfo | null;
  status_reason?: string | null;
  waiting_for?: WaitingFor | null;
  /** The run this one reruns (`%durable rerun`, "Rerun from this step"), and the step it reran from. */
  rerun_of?: string | null;
  from_step?: string | null;
}

export interface StepInfo {
  step_id?: string | null;
  name?: string | null;
  kind?: StepKind | string | null;
  status?: StepStatus | string | null;
  replayed?: boolean | null;
  position?: number | null;
  attempt?: number | null;
  max_attempts?: number | null;
  started_at?: number | null;
  ended_at?: number | null;
  next_attempt_at?: number | null;
  sleep_until?: number | null;
  wait_event?: string | null;
  input_preview?: string | null;
  output_preview?: string | null;
  output_size?: number | null;
  error?: ErrorInfo | null;
  idempotency_key?: string | null;
  ai?: AiInfo | null;
  /** The step's failed attempts before its last (the latest 20), each with its error and the backoff after it. */
  attempts?: AttemptInfo[] | null;
}

export interface AttemptInfo {
  attempt?: number | null;
  started_at?: number | null;
  ended_at?: number | null;
  retry_at?: number | null;
  error?: AttemptError | null;
}

export interface AttemptError {
  type?: string | null;
  message?: string | null;
}

export interface Actions {
  send_event?: boolean | null;
  cancel?: boolean | null;
  rerun?: boolean | null;
}

export interface Snapshot {
  version?: number;
  run?: RunInfo | null;
  steps?: StepInfo[] | null;
  steps_omitted?: number | null;
  actions?: Actions | null;
}

/** A request from the timeline to the Python side; the widget sends it as a custom message. */
export type ActionMessage =
  | { action: 'send_event'; event: string; data: unknown; step_id: string | null }
  | { action: 'cancel' }
  | { action: 'rerun'; step_id: string };

/** Sent once by each widget view when it is drawn (the kernel then knows a front end shows widgets). */
export interface RenderedMessage {
  type: 'rendered';
}

/** The Python side's answer to an action, shown as a notice under the header. */
export interface ActionResult {
  type: 'action_result';
  action: string;
  ok: boolean;
  message: string;
}
