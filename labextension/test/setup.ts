// jsdom has no DragEvent, which @lumino/dragdrop subclasses at import time.
if (!('DragEvent' in globalThis)) {
  (globalThis as unknown as { DragEvent: typeof MouseEvent }).DragEvent = class DragEvent extends MouseEvent {};
}
// jsdom has no matchMedia, which @jupyterlab/ui-components' web components call at import time.
if (typeof window !== 'undefined' && !window.matchMedia) {
  window.matchMedia = (query: string): MediaQueryList =>
    ({
      matches: false,
      media: query,
      onchange: null,
      addListener: () => undefined,
      removeListener: () => undefined,
      addEventListener: () => undefined,
      removeEventListener: () => undefined,
      dispatchEvent: () => false,
    }) as MediaQueryList;
}
