// Bundle the anywidget front end into one ES module inside the Python package,
// so users get the live widget from a plain pip install with no Node.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

await build({
  entryPoints: [path.join(root, 'src', 'widget.ts')],
  outfile: path.resolve(root, '..', 'nbdurable', 'static', 'widget.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  logLevel: 'info',
});
