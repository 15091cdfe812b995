/**
 * A typed client for nbdurable's Jupyter server REST API (`nbdurable/server/openapi.json`).
 *
 * Every request goes through `ServerConnection.makeRequest`, so the server's base URL,
 * the token or login cookie and the XSRF header are handled as for JupyterLab's own
 * API calls. Errors come back as `ApiError`, carrying the server's JSON message (and
 * `resume_in` for a resume or rerun the server cannot do itself).
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { Snapshot } from '../types';

export const API_PATH = 'nbdurable/api';

export type Status =
  | 'queued'
  | 'running'
  | 'sleeping'
  | 'waiting'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'skipped'
  | 'interrupted';

/** Every status, in the order the sidebar's filters show them. */
export const STATUSES: readonly Status[] = [
  'waiting',
  'running',
  'sleeping',
  'queued',
  'failed',
  'interrupted',
  'completed',
  'cancelled',
  'skipped',
];

/** Statuses of a run still on its way (it can be cancelled). */
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set(['queued', 'running', 'sleeping', 'waiting']);

/** Statuses a run can be resumed from. */
export const RESUMABLE_STATUSES: ReadonlySet<string> = new Set(['failed', 'interrupted']);

/** A run in a listing or the live feed (`RunSummary` in the OpenAPI description). */
export interface RunSummary {
  run_id: string;
  journal: string;
  function_id: string;
  kind: string;
  status: Status | string;
  status_reason: string | null;
  trigger: string | null;
  notebook: string | null;
  cell_id: string | null;
  parent_run_id: string | null;
  rerun_of: string | null;
  from_step: string | null;
  attempt: number;
  started_at: number;
  updated_at: number;
  ended_at: number | null;
  steps_done: number;
  steps_total: number;
  steps_failed: number;
  step_attempts: number;
  tokens_in: number;
  tokens_out: number;
  cost: number | null;
  error: { type?: string | null; message?: string | null; step_id?: string | null } | null;
}

export interface RunList {
  runs: RunSummary[];
  next_cursor: string | null;
  total: number;
  counts: Record<string, number>;
  errors: Array<{ journal: string; message: string }>;
}

export interface JournalInfo {
  journal: string;
  source: 'env' | 'config' | 'scan' | 'request';
  runs?: number | null;
  truncated?: boolean;
  error: string | null;
}

export interface JournalList {
  root_dir: string;
  journals: JournalInfo[];
}

/** Where a run can be resumed or rerun when the server cannot, and the code that does it there. */
export interface ResumeIn {
  where: 'notebook' | 'process';
  code: string;
  notebook?: string | null;
  cell_id?: string | null;
  function_id?: string;
}

export interface ActionResult {
  run_id: string;
  journal: string;
  status: string;
  where?: 'server';
  rerun_of?: string;
  from_step?: string;
}

export interface EventResult {
  journal: string;
  name: string;
  duplicate: boolean;
  runs: string[];
}

export interface ListQuery {
  status?: readonly string[];
  function?: string;
  journal?: string | null;
  text?: string;
  limit?: number;
  cursor?: string | null;
}

/** A request the server refused or could not answer, with its message said for a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string | null;
  readonly resumeIn: ResumeIn | null;
  readonly body: Record<string, unknown> | null;

  constructor(status: number, message: string, body: Record<string, unknown> | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    this.reason = typeof body?.reason === 'string' ? body.reason : null;
    this.resumeIn = isResumeIn(body?.resume_in) ? body.resume_in : null;
  }
}

function isResumeIn(value: unknown): value is ResumeIn {
  const v = value as ResumeIn | null;
  return typeof v === 'object' && v !== null && typeof v.where === 'string' && typeof v.code === 'string';
}

/** Build an `ApiError` from a failed response: the JSON `message` if there is one, else the status text. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> | null = null;
  let text = '';
  try {
    text = await response.text();
    const parsed: unknown = JSON.parse(text);
    body = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    body = null;
  }
  const message =
    typeof body?.message === 'string' && body.message
      ? body.message
      : `${response.status} ${response.statusText || 'error'}${text && !body ? `: ${text.slice(0, 200)}` : ''}`;
  return new ApiError(response.status, message, body);
}

/** The query string of a listing (only the parameters given). */
export function listParams(query: ListQuery): URLSearchParams {
  const params = new URLSearchParams();
  if (query.status && query.status.length > 0) {
    params.set('status', query.status.join(','));
  }
  if (query.function) {
    params.set('function', query.function);
  }
  if (query.journal) {
    params.set('journal', query.journal);
  }
  if (query.text && query.text.trim()) {
    params.set('text', query.text.trim());
  }
  if (query.limit !== undefined) {
    params.set('limit', String(query.limit));
  }
  if (query.cursor) {
    params.set('cursor', query.cursor);
  }
  return params;
}

/** The REST API of one Jupyter server. */
export class RunsApi {
  readonly settings: ServerConnection.ISettings;

  constructor(settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this.settings = settings;
  }

  /** The absolute URL of an API path with its query. */
  url(path: string, params?: URLSearchParams): string {
    const base = URLExt.join(this.settings.baseUrl, API_PATH, path);
    const query = params?.toString();
    return query ? `${base}?${query}` : base;
  }

  /** A raw request (the live feed reads the streamed body itself); a refused one raises `ApiError`. */
  async request(path: string, init: RequestInit = {}, params?: URLSearchParams): Promise<Response> {
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(path, params), init, this.settings);
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') {
        throw err;
      }
      throw new ApiError(0, `the Jupyter server did not answer: ${(err as Error)?.message ?? String(err)}`);
    }
    if (!response.ok) {
      throw await errorFromResponse(response);
    }
    return response;
  }

  private async json<T>(path: string, init: RequestInit = {}, params?: URLSearchParams): Promise<T> {
    const response = await this.request(path, init, params);
    return (await response.json()) as T;
  }

  private post<T>(path: string, body: unknown, journal?: string | null): Promise<T> {
    const params = journal ? new URLSearchParams({ journal }) : undefined;
    return this.json<T>(
      path,
      { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } },
      params,
    );
  }

  journals(): Promise<JournalList> {
    return this.json<JournalList>('journals');
  }

  listRuns(query: ListQuery = {}): Promise<RunList> {
    return this.json<RunList>('runs', {}, listParams(query));
  }

  /** The run's timeline snapshot (the schema of the saved timeline). */
  getRun(runId: string, journal?: string | null): Promise<Snapshot> {
    const params = journal ? new URLSearchParams({ journal }) : undefined;
    return this.json<Snapshot>(`runs/${encodeURIComponent(runId)}`, {}, params);
  }

  cancel(runId: string, journal?: string | null, reason?: string): Promise<ActionResult> {
    return this.post<ActionResult>(`runs/${encodeURIComponent(runId)}/cancel`, reason ? { reason } : {}, journal);
  }

  resume(runId: string, journal?: string | null): Promise<ActionResult> {
    return this.post<ActionResult>(`runs/${encodeURIComponent(runId)}/resume`, {}, journal);
  }

  rerun(runId: string, fromStep: string, journal?: string | null): Promise<ActionResult> {
    return this.post<ActionResult>(`runs/${encodeURIComponent(runId)}/rerun`, { from_step: fromStep }, journal);
  }

  sendEvent(
    event: { name: string; data?: Record<string, unknown>; id?: string | null },
    journal?: string | null,
  ): Promise<EventResult> {
    return this.post<EventResult>('events', event, journal);
  }
}
