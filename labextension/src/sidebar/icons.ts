/**
 * The sidebar's icon, and a tab icon that carries the count of runs waiting for an event.
 *
 * JupyterLab's side bar draws a tab's `title.icon` as a Lumino renderer; giving the title a
 * new renderer whenever the count changes redraws the tab with its badge.
 */

import { LabIcon } from '@jupyterlab/ui-components';
import type { VirtualElement } from '@lumino/virtualdom';

// Three offset bars, as a run's timeline draws its steps; jp-icon3 follows the theme.
const RUNS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="4" width="9" height="3.5" rx="1"/>
    <rect x="7" y="10.25" width="9" height="3.5" rx="1"/>
    <rect x="12" y="16.5" width="10" height="3.5" rx="1"/>
    <rect x="2" y="2" width="1.5" height="20" rx="0.75"/>
  </g>
</svg>`;

export const runsIcon = new LabIcon({ name: 'nbdurable:runs', svgstr: RUNS_SVG });

/** The runs icon with a badge showing `count` (nothing when 0). */
export class BadgedIcon implements VirtualElement.IRenderer {
  readonly count: number;

  constructor(count: number) {
    this.count = count;
  }

  render(host: HTMLElement): void {
    runsIcon.render(host);
    host.classList.add('nbd-sb-tab-icon');
    host.querySelector('.nbd-sb-tab-badge')?.remove();
    if (this.count > 0) {
      const badge = host.ownerDocument.createElement('span');
      badge.className = 'nbd-sb-tab-badge';
      badge.setAttribute('aria-hidden', 'true');
      badge.textContent = this.count > 99 ? '99+' : String(this.count);
      host.appendChild(badge);
    }
  }

  unrender(host: HTMLElement): void {
    host.querySelector('.nbd-sb-tab-badge')?.remove();
    runsIcon.unrender?.(host);
  }
}
