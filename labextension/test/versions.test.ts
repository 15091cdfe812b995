import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import { rendererFactory, type TimelineRenderer } from '../src/mime';
import { SNAPSHOT_VERSION, readSnapshot } from '../src/snapshot';
import { MIME_TYPE, type Snapshot } from '../src/types';
import { sampleSnapshot } from './fixtures';

/** A real output saved by nbdurable 0.1.0: a %%durable cell run twice, so its five steps replayed. */
function savedBy010(): { data: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(__dirname, 'data', 'timeline-bundle-0.1.0.json'), 'utf8'));
}

const mounted: Widget[] = [];

async function draw(data: Record<string, unknown>): Promise<TimelineRenderer> {
  const renderer = rendererFactory.createRenderer({ mimeType: MIME_TYPE } as IRenderMime.IRendererOptions) as TimelineRenderer;
  await renderer.renderModel({ data, metadata: {}, trusted: false, setData: () => undefined } as unknown as IRenderMime.IMimeModel);
  Widget.attach(renderer, document.body);
  mounted.push(renderer);
  return renderer;
}

afterEach(() => {
  while (mounted.length > 0) {
    mounted.pop()!.dispose();
  }
});

describe('snapshot versions', () => {
  it('draws a notebook output saved by nbdurable 0.1.0', async () => {
    const saved = savedBy010();
    expect((saved.data[MIME_TYPE] as Snapshot).version).toBe(1);
    const renderer = await draw(saved.data);
    const names = Array.from(renderer.node.querySelectorAll('.nbd-step .nbd-name')).map(n => n.textContent);
    // ↺ marks a step replayed from the journal.
    expect(names).toEqual(['↺fetch-0', '↺fetch-1', '↺fetch-2', '↺cool-down', '↺summarize']);
    expect(renderer.node.querySelector('.nbd-badge')!.textContent).toBe('completed');
    expect(renderer.node.querySelector('.nbd-fn')!.textContent).toBe('%%durable report-2026');
    expect(renderer.node.querySelectorAll('.nbd-newer')).toHaveLength(0);
  });

  it('takes a snapshot without a version as the first format', () => {
    const { version: _, ...bare } = sampleSnapshot();
    const read = readSnapshot(bare);
    expect(read.newer).toBeNull();
    expect(read.snapshot.version).toBe(SNAPSHOT_VERSION);
    expect(read.snapshot.run).toEqual(bare.run);
  });

  it('draws what it understands of a newer snapshot and says so', async () => {
    const newer = { ...sampleSnapshot(), version: SNAPSHOT_VERSION + 1, something_new: { x: 1 } };
    expect(readSnapshot(newer).newer).toBe(SNAPSHOT_VERSION + 1);
    const renderer = await draw({ [MIME_TYPE]: newer });
    expect(renderer.node.querySelectorAll('.nbd-step')).toHaveLength(4);
    expect(renderer.node.querySelector('.nbd-newer')!.textContent).toContain(`timeline format ${SNAPSHOT_VERSION + 1}`);
  });

  it('draws nothing broken from something that is not a snapshot', () => {
    for (const junk of [null, 3, 'x', [1, 2]]) {
      expect(readSnapshot(junk)).toEqual({ snapshot: {}, newer: null });
    }
  });
});
