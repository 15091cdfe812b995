// jsdom has no DragEvent, which @lumino/dragdrop subclasses at import time.
if (!('DragEvent' in globalThis)) {
  (globalThis as unknown as { DragEvent: typeof MouseEvent }).DragEvent = class DragEvent extends MouseEvent {};
}
