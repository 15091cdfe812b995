import { describe, expect, it } from 'vitest';

import { compareRuns, groupRuns, matchesFilters, runKey, runTitle, RunsModel } from '../../src/sidebar/model';
import { T0, page, run } from './runs';

const noFilters = { statuses: new Set<string>(), text: '', journal: null };

describe('compareRuns', () => {
  it('orders newest first, then journal ascending, then run id descending, as the server pages', () => {
    const runs = [
      run('a', { started_at: T0 }),
      run('b', { started_at: T0 + 5 }),
      run('c', { started_at: T0, journal: 'a/.nbdurable/journal.db' }),
      run('d', { started_at: T0 }),
    ];
    expect([...runs].sort(compareRuns).map(r => r.run_id)).toEqual(['b', 'd', 'a', 'c']);
  });
});

describe('matchesFilters', () => {
  it('keeps a run whose status is shown and drops the others', () => {
    const filters = { ...noFilters, statuses: new Set(['waiting', 'failed']) };
    expect(matchesFilters(run('a', { status: 'waiting' }), filters)).toBe(true);
    expect(matchesFilters(run('a', { status: 'completed' }), filters)).toBe(false);
  });

  it('searches the fields the server searches, ignoring case', () => {
    const r = run('r-42', {
      function_id: 'resolve-ticket',
      status_reason: 'queued: 2 of 2 slots busy',
      trigger: 'support/ticket.created',
      notebook: 'proj/Tickets.ipynb',
      error: { type: 'ValueError', message: 'bad tenant', step_id: 'x' },
    });
    for (const needle of ['R-42', 'ticket', 'SLOTS', 'support/', 'tickets.ipynb', 'valueerror', 'Bad Tenant']) {
      expect(matchesFilters(r, { ...noFilters, text: needle })).toBe(true);
    }
    expect(matchesFilters(r, { ...noFilters, text: 'nowhere' })).toBe(false);
    expect(matchesFilters(r, { ...noFilters, text: '   ' })).toBe(true);
  });

  it('keeps only the chosen journal', () => {
    const r = run('a', { journal: 'x/.nbdurable/journal.db' });
    expect(matchesFilters(r, { ...noFilters, journal: 'x/.nbdurable/journal.db' })).toBe(true);
    expect(matchesFilters(r, { ...noFilters, journal: '.nbdurable/journal.db' })).toBe(false);
  });
});

describe('groupRuns', () => {
  it('groups by notebook in the order of each group’s newest run, and the other runs by journal', () => {
    const groups = groupRuns(
      [
        run('n1', { notebook: 'a.ipynb', started_at: T0 + 9 }),
        run('s1', { started_at: T0 + 8 }),
        run('m1', { notebook: 'b.ipynb', started_at: T0 + 7 }),
        run('n2', { notebook: 'a.ipynb', started_at: T0 + 6 }),
        run('s2', { started_at: T0 + 5, journal: 'other/.nbdurable/journal.db' }),
      ].sort(compareRuns),
    );
    expect(groups.map(g => [g.label, g.runs.map(r => r.run_id)])).toEqual([
      ['a.ipynb', ['n1', 'n2']],
      ['.nbdurable/journal.db: not from a notebook', ['s1']],
      ['b.ipynb', ['m1']],
      ['other/.nbdurable/journal.db: not from a notebook', ['s2']],
    ]);
    expect(groups[0].notebook).toBe('a.ipynb');
    expect(groups[1].notebook).toBeNull();
  });
});

describe('runTitle', () => {
  it("drops a cell run's cell: prefix only", () => {
    expect(runTitle({ function_id: 'cell:demo', kind: 'cell' })).toBe('demo');
    expect(runTitle({ function_id: 'cell:demo', kind: 'function' })).toBe('cell:demo');
  });
});

describe('RunsModel', () => {
  it('takes a page, then appends the next without repeating a run', () => {
    const model = new RunsModel();
    model.applyPage(page([run('c', { started_at: T0 + 3 }), run('b', { started_at: T0 + 2 })], { next_cursor: 'k', total: 3 }));
    expect(model.hasMore).toBe(true);
    expect(model.query(true).cursor).toBe('k');
    model.applyPage(page([run('b', { started_at: T0 + 2 }), run('a', { started_at: T0 + 1 })], { total: 3 }), true);
    expect(model.runs.map(r => r.run_id)).toEqual(['c', 'b', 'a']);
    expect(model.hasMore).toBe(false);
    expect(model.loaded).toBe(true);
  });

  it('puts a feed update in place, adds a new run on top and drops one that left the filter', () => {
    const model = new RunsModel();
    model.setFilters({ statuses: new Set(['running', 'waiting']) });
    model.applyPage(page([run('b', { status: 'running', started_at: T0 + 2 }), run('a', { status: 'waiting', started_at: T0 + 1 })]));
    model.applyRun(run('b', { status: 'running', started_at: T0 + 2, steps_done: 4 }));
    expect(model.find(runKey('.nbdurable/journal.db', 'b'))?.steps_done).toBe(4);
    model.applyRun(run('c', { status: 'running', started_at: T0 + 3 }));
    expect(model.runs.map(r => r.run_id)).toEqual(['c', 'b', 'a']);
    model.applyRun(run('a', { status: 'completed', started_at: T0 + 1 }));
    expect(model.runs.map(r => r.run_id)).toEqual(['c', 'b']);
    model.applyRun(run('z', { status: 'completed', started_at: T0 + 9 }));
    expect(model.runs.map(r => r.run_id)).toEqual(['c', 'b']);
  });

  it('leaves a changed run past the loaded window to the next page', () => {
    const model = new RunsModel();
    model.applyPage(page([run('c', { started_at: T0 + 3 }), run('b', { started_at: T0 + 2 })], { next_cursor: 'k' }));
    model.applyRun(run('old', { started_at: T0 - 100, status: 'running' }));
    expect(model.runs.map(r => r.run_id)).toEqual(['c', 'b']);
    model.applyRun(run('new', { started_at: T0 + 10, status: 'running' }));
    expect(model.runs.map(r => r.run_id)).toEqual(['new', 'c', 'b']);
  });

  it('says the counts may have moved when a status changed or an unknown run came, not for a step', () => {
    const model = new RunsModel();
    model.applyPage(page([run('a', { status: 'running' })]));
    expect(model.applyRun(run('a', { status: 'running', steps_done: 2 }))).toBe(false);
    expect(model.applyRun(run('a', { status: 'waiting' }))).toBe(true);
    expect(model.applyRun(run('unseen', { status: 'running', started_at: T0 - 50 }))).toBe(true);
    expect(model.applyRun(run('unseen', { status: 'running', started_at: T0 - 50, steps_done: 1 }))).toBe(false);
  });

  it('counts the runs waiting for an event from the server’s counts', () => {
    const model = new RunsModel();
    expect(model.waiting).toBe(0);
    model.applyPage(page([run('a', { status: 'waiting' }), run('b', { status: 'waiting' }), run('c')]));
    expect(model.waiting).toBe(2);
    model.applyTotals({ counts: { waiting: 5, completed: 1 }, total: 6 });
    expect(model.waiting).toBe(5);
    expect(model.total).toBe(6);
  });

  it('asks for the listing again only when the filters really change', () => {
    const model = new RunsModel();
    let changes = 0;
    model.changed.connect(() => changes++);
    expect(model.setFilters({ text: '' })).toBe(false);
    expect(model.setFilters({ text: ' fetch ' })).toBe(true);
    expect(model.setFilters({ text: 'fetch' })).toBe(false);
    expect(model.toggleStatus('failed')).toBe(true);
    expect(model.query()).toMatchObject({ status: ['failed'], text: 'fetch', cursor: null });
    expect(model.toggleStatus('failed')).toBe(true);
    expect(model.query().status).toEqual([]);
    expect(model.setFilters({ journal: 'x' })).toBe(true);
    expect(model.query().journal).toBe('x');
    expect(changes).toBe(4);
  });

  it('folds and unfolds groups, and remembers the selected run without redrawing the list', () => {
    const model = new RunsModel();
    let changes = 0;
    const selected: Array<string | null> = [];
    model.changed.connect(() => changes++);
    model.selectionChanged.connect((_, key) => selected.push(key));
    model.toggleGroup('nb:a.ipynb');
    expect(model.isCollapsed('nb:a.ipynb')).toBe(true);
    model.toggleGroup('nb:a.ipynb');
    expect(model.isCollapsed('nb:a.ipynb')).toBe(false);
    model.select('k');
    model.select('k');
    expect(selected).toEqual(['k']);
    expect(changes).toBe(2);
  });
});
