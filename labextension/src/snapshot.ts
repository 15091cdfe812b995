/**
 * Snapshot format versions: a newer renderer draws a notebook saved by an older nbdurable.
 *
 * Every snapshot carries `version` (the first released format, nbdurable 0.1, is 1).
 * An older snapshot is brought to the current shape by the migrations below, one
 * version at a time; a snapshot without `version` is taken as version 1. A snapshot
 * from a newer nbdurable is drawn as far as its fields are understood (the renderer
 * reads every field defensively) with a note saying so. The Python side writes
 * `nbdurable._timeline.SNAPSHOT_VERSION`, which a test keeps equal to this one.
 */

import type { Snapshot } from './types';

/** The snapshot format this renderer reads and nbdurable writes. */
export const SNAPSHOT_VERSION = 1;

/** `MIGRATIONS[v]` turns a version-v snapshot into a version-(v+1) one. None yet: version 1 is current. */
const MIGRATIONS: Record<number, (snapshot: Record<string, unknown>) => Record<string, unknown>> = {};

export interface ReadSnapshot {
  snapshot: Snapshot;
  /** The version of a snapshot written by a newer nbdurable than this renderer, else null. */
  newer: number | null;
}

/** A snapshot of any version (or anything at all, from a saved file) in the shape this renderer draws. */
export function readSnapshot(value: unknown): ReadSnapshot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { snapshot: {}, newer: null };
  }
  let data = value as Record<string, unknown>;
  const raw = data.version;
  let version = typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 ? raw : 1;
  if (version > SNAPSHOT_VERSION) {
    return { snapshot: data as Snapshot, newer: version };
  }
  while (version < SNAPSHOT_VERSION) {
    const migrate = MIGRATIONS[version];
    data = migrate ? migrate(data) : data;
    version += 1;
  }
  return { snapshot: { ...data, version } as Snapshot, newer: null };
}
