// Remove build outputs so a production build starts from nothing stale.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const target of ['lib', 'tsconfig.tsbuildinfo', '../nbdurable/labextension', '../nbdurable/static/widget.js']) {
  rmSync(path.resolve(root, target), { recursive: true, force: true });
}
