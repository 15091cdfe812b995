/**
 * The timeline's stylesheet, injected once per document.
 *
 * Injected from JS (not a CSS file) so the anywidget bundle and the JupyterLab
 * extension share one source. Colours come from JupyterLab's theme variables so
 * light and dark themes both work; the fallbacks cover VS Code and other hosts.
 */

import { PALETTE } from './palette.generated';

export const STYLE_ID = 'nbdurable-timeline-style';

/** A fallback chain as CSS: `["--jp-x", "--vscode-y", "#fff"]` -> `var(--jp-x, var(--vscode-y, #fff))`. */
export function cssColour(chain: readonly string[]): string {
  let value = chain[chain.length - 1];
  for (let i = chain.length - 2; i >= 0; i--) {
    value = `var(${chain[i]}, ${value})`;
  }
  return value;
}

/**
 * The colour variables on the timeline's root and each status's colour as `--nbd-c` on what carries
 * that status: from palette.json, which the static renderer (nbdurable/timeline/_render.py) reads too.
 */
export function paletteCss(scope: string): string {
  const colours = Object.entries(PALETTE.colours)
    .map(([name, chain]) => `  --nbd-${name}: ${cssColour(chain)};`)
    .join('\n');
  const statuses = Object.entries(PALETTE.status)
    .map(([status, colour]) => `${scope} [data-status="${status}"] { --nbd-c: var(--nbd-${colour}); }`)
    .join('\n');
  return `${scope} {\n${colours}\n}\n${statuses}\n`;
}

export const CSS =
  paletteCss('.nbd-timeline') +
  `
.nbd-timeline {
  --nbd-font: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  --nbd-mono: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, monospace);
  font-family: var(--nbd-font);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--nbd-fg);
  background: var(--nbd-bg);
  border: 1px solid var(--nbd-border);
  border-radius: 4px;
  padding: 8px 10px;
  line-height: 1.4;
  box-sizing: border-box;
  max-width: 100%;
  overflow-x: auto;
}
.nbd-timeline *, .nbd-timeline *::before, .nbd-timeline *::after { box-sizing: border-box; }
.nbd-header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px; }
.nbd-fn { font-weight: 600; font-size: 1.1em; }
.nbd-runid { font-family: var(--nbd-mono); color: var(--nbd-fg-muted); font-size: 0.9em; }
.nbd-badge {
  display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 0.85em; font-weight: 600;
  color: #fff; background: var(--nbd-muted); white-space: nowrap;
}
.nbd-badge[data-status] { background: var(--nbd-c, var(--nbd-muted)); }
.nbd-stats { color: var(--nbd-fg-muted); display: flex; flex-wrap: wrap; gap: 2px 12px; width: 100%; }
.nbd-stats b { color: var(--nbd-fg); font-weight: 600; }
.nbd-reason { color: var(--nbd-fg-muted); font-style: italic; width: 100%; }
.nbd-warnings { margin: 6px 0 0; padding: 4px 8px; list-style: none; border-left: 3px solid var(--nbd-warn);
  background: var(--nbd-bg-alt); width: 100%; }
.nbd-warnings li { margin: 0; }
.nbd-run-error { margin-top: 6px; border-left: 3px solid var(--nbd-err); padding: 4px 8px; background: var(--nbd-bg-alt);
  width: 100%; }
.nbd-actions { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 8px; margin-top: 8px; }
.nbd-actions:empty { display: none; }
.nbd-wait { flex: 1 1 320px; border: 1px solid var(--nbd-info); border-radius: 4px; padding: 6px 8px; }
.nbd-wait-title { font-weight: 600; }
.nbd-wait textarea {
  display: block; width: 100%; min-height: 3.2em; margin: 4px 0; font-family: var(--nbd-mono); font-size: 0.95em;
  color: var(--nbd-fg); background: var(--jp-layout-color1, var(--nbd-bg)); border: 1px solid var(--nbd-border);
  border-radius: 3px; padding: 4px; resize: vertical;
}
.nbd-timeline button.nbd-btn {
  font: inherit; font-size: 0.95em; cursor: pointer; border-radius: 3px; padding: 2px 10px;
  border: 1px solid var(--nbd-border); background: var(--jp-layout-color2, var(--nbd-bg-alt)); color: var(--nbd-fg);
}
.nbd-timeline button.nbd-btn:hover:not(:disabled) { border-color: var(--nbd-accent); }
.nbd-timeline button.nbd-btn:disabled { opacity: 0.55; cursor: default; }
.nbd-timeline button.nbd-btn-primary { background: var(--nbd-accent); border-color: var(--nbd-accent); color: #fff; }
.nbd-timeline button.nbd-btn-danger { color: var(--nbd-err); border-color: var(--nbd-err); }
.nbd-notice { width: 100%; font-size: 0.95em; }
.nbd-notice[data-kind="error"] { color: var(--nbd-err); }
.nbd-notice[data-kind="ok"] { color: var(--nbd-ok); }
.nbd-notice[data-kind="stale"] { color: var(--nbd-warn); font-weight: 600; }
.nbd-timeline[data-stale="true"] .nbd-badge { background: var(--nbd-muted); }
.nbd-stat.nbd-replay { color: var(--nbd-fg); }
.nbd-field-error { color: var(--nbd-err); font-size: 0.9em; }
.nbd-grid { display: grid; grid-template-columns: 4.2em minmax(9em, 1.1fr) 3.5em minmax(14em, 1.5fr) 5em minmax(140px, 2.4fr);
  column-gap: 8px; align-items: center; }
.nbd-axis { margin-top: 8px; color: var(--nbd-fg-muted); font-size: 0.85em; border-bottom: 1px solid var(--nbd-border);
  padding-bottom: 2px; }
.nbd-ticks { position: relative; height: 1.3em; }
.nbd-tick { position: absolute; top: 0; transform: translateX(-50%); white-space: nowrap; }
.nbd-tick:first-child { transform: none; }
.nbd-tick:last-child { transform: translateX(-100%); }
.nbd-omitted { color: var(--nbd-fg-muted); font-style: italic; padding: 2px 0; }
.nbd-rows { display: flex; flex-direction: column; }
.nbd-rows-windowed { display: block; max-height: 32em; overflow-y: auto; overscroll-behavior: contain; }
.nbd-pad { flex: none; }
.nbd-step { border-bottom: 1px solid var(--nbd-border); }
.nbd-step:last-child { border-bottom: none; }
.nbd-timeline button.nbd-row {
  width: 100%; text-align: left; font: inherit; color: inherit; background: none; border: none; padding: 3px 0;
  cursor: pointer;
}
.nbd-timeline button.nbd-row:hover { background: var(--nbd-bg-alt); }
.nbd-timeline button.nbd-row:focus-visible { outline: 2px solid var(--nbd-accent); outline-offset: -2px; }
.nbd-pos { color: var(--nbd-fg-muted); text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nbd-pos::before { content: "▸"; display: inline-block; margin-right: 4px; transition: transform 0.1s; }
.nbd-step[data-open="true"] .nbd-pos::before { transform: rotate(90deg); }
.nbd-axis .nbd-pos::before { display: none; }
.nbd-name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-weight: 500; }
.nbd-kind { font-family: var(--nbd-mono); font-size: 0.85em; color: var(--nbd-fg-muted); }
.nbd-status { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.nbd-dur { text-align: right; font-variant-numeric: tabular-nums; color: var(--nbd-fg-muted); white-space: nowrap; }
.nbd-track { position: relative; height: 12px; background: var(--nbd-bg-alt); border-radius: 2px; }
.nbd-bar { position: absolute; top: 1px; bottom: 1px; min-width: 3px; border-radius: 2px; background: var(--nbd-ok); }
.nbd-step[data-status] .nbd-bar { background: var(--nbd-c, var(--nbd-ok)); }
.nbd-step[data-status="running"] .nbd-bar { animation: nbd-pulse 1.2s ease-in-out infinite; }
.nbd-step[data-status="sleeping"] .nbd-bar, .nbd-step[data-status="waiting"] .nbd-bar {
  background: repeating-linear-gradient(90deg, var(--nbd-c) 0 6px, transparent 6px 9px);
}
.nbd-step[data-replayed="true"] .nbd-bar {
  background: repeating-linear-gradient(135deg, var(--nbd-ok) 0 4px, transparent 4px 7px);
  outline: 1px solid var(--nbd-ok);
}
.nbd-step[data-status="failed"] .nbd-status, .nbd-step[data-status="retrying"] .nbd-status,
.nbd-step[data-status="running"] .nbd-status { color: var(--nbd-c); font-weight: 600; }
.nbd-step[data-status="sleeping"] .nbd-status, .nbd-step[data-status="waiting"] .nbd-status { color: var(--nbd-c); }
.nbd-step[data-replayed="true"] .nbd-name, .nbd-step[data-replayed="true"] .nbd-status { color: var(--nbd-fg-muted); }
.nbd-replayed-mark { display: inline-block; margin-right: 4px; padding: 0 3px; font-size: 0.85em; line-height: 1.2;
  border-radius: 3px; border: 1px solid var(--nbd-ok); color: var(--nbd-ok); font-weight: 700; }
.nbd-detail { padding: 4px 0 8px 4.1em; }
.nbd-detail[hidden] { display: none; }
.nbd-detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 4px; }
.nbd-detail dt { color: var(--nbd-fg-muted); font-weight: normal; white-space: nowrap; }
.nbd-detail dd { margin: 0; overflow-wrap: anywhere; }
.nbd-detail code { font-family: var(--nbd-mono); font-size: 0.95em; }
.nbd-timeline pre {
  font-family: var(--nbd-mono); font-size: 0.9em; margin: 2px 0 6px; padding: 4px 6px; max-height: 20em; overflow: auto;
  white-space: pre-wrap; overflow-wrap: anywhere; background: var(--nbd-bg-alt); border-radius: 3px; color: var(--nbd-fg);
}
.nbd-section-title { font-weight: 600; margin-top: 4px; }
.nbd-attempts { margin: 2px 0 6px; padding-left: 1.6em; color: var(--nbd-fg-muted); }
.nbd-note { color: var(--nbd-fg-muted); font-size: 0.9em; font-weight: normal; }
.nbd-error-title { color: var(--nbd-err); font-weight: 600; }
.nbd-empty { color: var(--nbd-fg-muted); font-style: italic; padding: 4px 0; }
@keyframes nbd-pulse { 0%, 100% { opacity: 1; } 50% { opacity: 0.55; } }
@media (prefers-reduced-motion: reduce) { .nbd-step[data-status="running"] .nbd-bar { animation: none; } }
`;

/** Add the stylesheet to the document once; later calls are no-ops. */
export function ensureStyles(doc: Document): void {
  if (doc.getElementById(STYLE_ID)) {
    return;
  }
  const style = doc.createElement('style');
  style.id = STYLE_ID;
  style.textContent = CSS;
  (doc.head ?? doc.documentElement).appendChild(style);
}
