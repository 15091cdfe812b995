/**
 * The live feed of run changes (`GET /nbdurable/api/feed`, server-sent events), kept open.
 *
 * Read with `fetch` through `ServerConnection.makeRequest` rather than `EventSource`, so
 * the token header and base URL are JupyterLab's own; the stream is parsed by
 * `eventsource-parser`. When the stream ends or fails it reconnects with a backoff; each
 * `hello` (a new connection), `reset` and `journals` asks consumers to reload, since
 * changes made while disconnected are not replayed.
 */

import type { IDisposable } from '@lumino/disposable';
import { Signal, type ISignal } from '@lumino/signaling';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

import type { RunsApi, RunSummary } from './api';

export type FeedState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface FeedRun {
  journal: string;
  run: RunSummary;
}

/** Why consumers should reload what they show. */
export type ReloadReason = 'hello' | 'reset' | 'journals';

export interface FeedOptions {
  /** Waits between reconnection attempts, in ms; the last one repeats. */
  backoff?: readonly number[];
  /** Stands in for `setTimeout` (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const DEFAULT_BACKOFF = [1000, 2000, 5000, 10000, 15000];

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

function isFeedRun(value: unknown): value is FeedRun {
  const v = value as FeedRun | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.journal === 'string' &&
    typeof v.run === 'object' &&
    v.run !== null &&
    typeof v.run.run_id === 'string'
  );
}

export class RunsFeed implements IDisposable {
  private readonly api: RunsApi;
  private readonly backoff: readonly number[];
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly abort = new AbortController();
  private _state: FeedState = 'stopped';
  private _lastError = '';
  private _started = false;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private _stateChanged = new Signal<this, FeedState>(this);
  private _runChanged = new Signal<this, FeedRun>(this);
  private _reload = new Signal<this, ReloadReason>(this);

  constructor(api: RunsApi, options: FeedOptions = {}) {
    this.api = api;
    this.backoff = options.backoff && options.backoff.length > 0 ? options.backoff : DEFAULT_BACKOFF;
    this.sleep = options.sleep ?? abortableSleep;
  }

  /** connecting, live (the server said hello), reconnecting (after a failure) or stopped. */
  get state(): FeedState {
    return this._state;
  }

  /** What the last failure was ('' while live). */
  get lastError(): string {
    return this._lastError;
  }

  get stateChanged(): ISignal<this, FeedState> {
    return this._stateChanged;
  }

  /** A run was created or changed (its status, reason or steps). */
  get runChanged(): ISignal<this, FeedRun> {
    return this._runChanged;
  }

  /** Reload everything shown: after each (re)connection, a `reset` or a change of the journals served. */
  get reload(): ISignal<this, ReloadReason> {
    return this._reload;
  }

  get isDisposed(): boolean {
    return this.abort.signal.aborted;
  }

  /** Open the feed and keep it open until disposed. Returns the loop's promise (tests await it). */
  start(): Promise<void> {
    if (this._started || this.isDisposed) {
      return Promise.resolve();
    }
    this._started = true;
    return this.loop();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.abort.abort();
    // Aborting the request ends its body in browsers; cancelling the reader ends any stream at once.
    void this.reader?.cancel().catch(() => undefined);
    this.setState('stopped');
    Signal.clearData(this);
  }

  private setState(state: FeedState): void {
    if (state !== this._state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.isDisposed) {
      this.setState(failures === 0 ? 'connecting' : 'reconnecting');
      let heard = false;
      try {
        heard = await this.readOnce(() => {
          failures = 0;
        });
        this._lastError = 'the live feed closed';
      } catch (err) {
        if (this.isDisposed) {
          break;
        }
        this._lastError = (err as Error)?.message ?? String(err);
      }
      if (this.isDisposed) {
        break;
      }
      failures = heard ? 1 : failures + 1;
      this.setState('reconnecting');
      await this.sleep(this.backoff[Math.min(failures - 1, this.backoff.length - 1)], this.abort.signal);
    }
    this.setState('stopped');
  }

  /** One connection, read to its end. True if the server said hello. */
  private async readOnce(onHello: () => void): Promise<boolean> {
    const response = await this.api.request('feed', {
      signal: this.abort.signal,
      headers: { Accept: 'text/event-stream' },
      cache: 'no-store',
    });
    const body = response.body;
    if (!body) {
      throw new Error('the live feed sent no stream');
    }
    let heard = false;
    const parser = createParser({
      onEvent: (message: EventSourceMessage) => {
        if (message.event === 'hello') {
          heard = true;
          onHello();
          this._lastError = '';
          this.setState('live');
        }
        this.dispatch(message);
      },
    });
    const reader = body.getReader();
    this.reader = reader;
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          break;
        }
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      this.reader = null;
      reader.releaseLock();
    }
    return heard;
  }

  private dispatch(message: EventSourceMessage): void {
    let data: unknown;
    try {
      data = JSON.parse(message.data);
    } catch {
      return; // not ours to understand; the feed goes on
    }
    switch (message.event) {
      case 'hello':
        this._reload.emit('hello');
        break;
      case 'run':
        if (isFeedRun(data)) {
          this._runChanged.emit(data);
        }
        break;
      case 'reset':
        this._reload.emit('reset');
        break;
      case 'journals':
        this._reload.emit('journals');
        break;
      default:
        break;
    }
  }
}
