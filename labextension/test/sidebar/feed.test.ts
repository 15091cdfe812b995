import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import { ApiError, RunsApi } from '../../src/sidebar/api';
import { RunsFeed, type FeedRun, type FeedState, type ReloadReason } from '../../src/sidebar/feed';

/** A streamed body that sends `chunks` one by one, then closes unless `open`. */
function stream(chunks: string[], open = false): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(encoder.encode(chunk));
      }
      if (!open) {
        controller.close();
      }
    },
  });
}

function apiWith(responses: Array<() => Response>, seen: Request[]): RunsApi {
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    seen.push(request);
    const next = responses.shift();
    if (!next) {
      throw new Error('no more responses');
    }
    return next();
  };
  return new RunsApi(ServerConnection.makeSettings({ baseUrl: 'http://lab.test/base/', token: 'secret', fetch }));
}

describe('RunsFeed', () => {
  it('parses events split across chunks, reconnects after an end or a failure, and stops when disposed', async () => {
    const seen: Request[] = [];
    let lastStreamOpened!: () => void;
    const opened = new Promise<void>(resolve => (lastStreamOpened = resolve));
    const api = apiWith(
      [
        () =>
          new Response(
            stream([
              'retry: 2000\nevent: hello\ndata: {"version": "0.2"}\n\n',
              'id: 1\nevent: run\ndata: {"journal": "j.db", "run": {"run_id": "r',
              '-1", "status": "running"}}\n\n: keep-alive\n\n',
              'id: 2\nevent: run\ndata: not json\n\n',
              'id: 3\nevent: reset\ndata: {"reason": "many changes"}\n\n',
            ]),
            { status: 200, headers: { 'Content-Type': 'text/event-stream' } },
          ),
        () => new Response(JSON.stringify({ message: 'the Jupyter server is stopping' }), { status: 503 }),
        () => {
          lastStreamOpened();
          return new Response(stream(['event: hello\ndata: {}\n\n', 'event: journals\ndata: {"journals": []}\n\n'], true), {
            status: 200,
          });
        },
      ],
      seen,
    );
    const waits: number[] = [];
    const feed = new RunsFeed(api, {
      backoff: [10, 20, 40],
      sleep: async ms => {
        waits.push(ms);
      },
    });
    const states: FeedState[] = [];
    const reloads: ReloadReason[] = [];
    const runs: FeedRun[] = [];
    feed.stateChanged.connect((_, s) => states.push(s));
    feed.reload.connect((_, r) => reloads.push(r));
    feed.runChanged.connect((_, r) => runs.push(r));
    const done = feed.start();
    await opened;
    await new Promise(resolve => setTimeout(resolve, 20));
    expect(runs).toEqual([{ journal: 'j.db', run: { run_id: 'r-1', status: 'running' } }]);
    expect(reloads).toEqual(['hello', 'reset', 'hello', 'journals']);
    expect(feed.state).toBe('live');
    // After a stream that had said hello, the first wait; after a refused connection, the next.
    expect(waits).toEqual([10, 20]);
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
    feed.dispose();
    await done;
    expect(feed.state).toBe('stopped');
    expect(seen.map(r => new URL(r.url).pathname)).toEqual([
      '/base/nbdurable/api/feed',
      '/base/nbdurable/api/feed',
      '/base/nbdurable/api/feed',
    ]);
    expect(seen[0].headers.get('Authorization')).toBe('token secret');
  });
});

describe('RunsApi', () => {
  it('sends actions as JSON to the run, naming its journal', async () => {
    const seen: Request[] = [];
    const api = apiWith(
      [() => new Response(JSON.stringify({ run_id: 'r 1~1', journal: 'p/j.db', status: 'running', where: 'server' }), { status: 202 })],
      seen,
    );
    const result = await api.rerun('r 1', 'fetch-3', 'p/j.db');
    expect(result.run_id).toBe('r 1~1');
    const request = seen[0];
    expect(request.method).toBe('POST');
    const url = new URL(request.url);
    expect(url.pathname).toBe('/base/nbdurable/api/runs/r%201/rerun');
    expect(url.searchParams.get('journal')).toBe('p/j.db');
    expect(await request.json()).toEqual({ from_step: 'fetch-3' });
  });

  it('lists with only the filters given', async () => {
    const seen: Request[] = [];
    const api = apiWith([() => new Response(JSON.stringify({ runs: [], next_cursor: null, total: 0, counts: {}, errors: [] }))], seen);
    await api.listRuns({ status: ['failed', 'waiting'], text: '  ticket ', limit: 1, cursor: null, journal: null });
    const params = new URL(seen[0].url).searchParams;
    expect(params.get('status')).toBe('failed,waiting');
    expect(params.get('text')).toBe('ticket');
    expect(params.get('limit')).toBe('1');
    expect(params.has('cursor') || params.has('journal') || params.has('function')).toBe(false);
  });

  it("turns a refusal into an ApiError with the server's message and resume_in", async () => {
    const resumeIn = { where: 'notebook', notebook: 'a.ipynb', cell_id: 'c1', code: '%durable rerun exp-1 --from fetch-3' };
    const api = apiWith(
      [
        () => new Response(JSON.stringify({ message: "run 'exp-1' is a notebook cell's run", reason: 'Conflict', resume_in: resumeIn }), { status: 409 }),
        () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      ],
      [],
    );
    const error = await api.resume('exp-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(409);
    expect((error as ApiError).message).toBe("run 'exp-1' is a notebook cell's run");
    expect((error as ApiError).resumeIn).toEqual(resumeIn);
    const other = (await api.cancel('r').catch((e: unknown) => e)) as ApiError;
    expect(other.status).toBe(502);
    expect(other.message).toBe('502 Bad Gateway: <html>Bad gateway</html>');
    expect(other.resumeIn).toBeNull();
  });

  it('says the server did not answer when the connection fails', async () => {
    const api = apiWith([], []);
    const error = (await api.journals().catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
    expect(error.message).toContain('did not answer');
  });
});
