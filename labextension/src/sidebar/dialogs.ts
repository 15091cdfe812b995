/**
 * The sidebar's dialogs, built on JupyterLab's `Dialog`: confirm a cancel, compose an
 * event (a JSON editor that is checked before anything is sent), pick a step to rerun
 * from, and show a server error with what to do (a 409's `resume_in`: where to resume
 * the run and the code that does it there).
 */

import { Clipboard, Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { CodeEditor, CodeEditorWrapper, type IEditorServices } from '@jupyterlab/codeeditor';
import { Panel, Widget } from '@lumino/widgets';

import { h } from '../renderer';
import { ApiError, type ResumeIn } from './api';

let idCounter = 0;
const nextId = (prefix: string): string => `${prefix}-${++idCounter}`;

/** Ask before cancelling a run. True to cancel. */
export async function confirmCancel(runId: string, title: string): Promise<boolean> {
  const d = document;
  const body = h(d, 'div', { class: 'nbd-sb-dialog' }, [
    h(d, 'p', {}, ['Cancel run ', h(d, 'code', {}, [runId]), ` (${title})?`]),
    h(d, 'p', { class: 'nbd-sb-note' }, [
      'It stops before its next step, wherever it executes. Finished steps stay in the journal; ' +
        'a cancelled run cannot be resumed, only rerun.',
    ]),
  ]);
  const result = await showDialog({
    title: 'Cancel this run?',
    body: new Widget({ node: body }),
    buttons: [Dialog.cancelButton({ label: 'Keep running' }), Dialog.warnButton({ label: 'Cancel run' })],
    defaultButton: 0,
  });
  return result.button.accept;
}

export interface EventValue {
  name: string;
  data: Record<string, unknown>;
  id: string | null;
}

/** What is wrong with a payload, or null with the parsed object. */
export function parseEventData(text: string): { data: Record<string, unknown> | null; error: string | null } {
  if (text.trim() === '') {
    return { data: {}, error: null };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { data: null, error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { data: null, error: 'The event data must be a JSON object, like {"approved": true}.' };
  }
  return { data: value as Record<string, unknown>, error: null };
}

/** What is wrong with an event name, or null (the server checks too; this says it before sending). */
export function checkEventName(name: string): string | null {
  if (name.trim() === '') {
    return 'An event needs a name.';
  }
  if (name !== name.trim()) {
    return 'An event name cannot start or end with a space.';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) {
    return 'An event name cannot hold control characters or line breaks.';
  }
  return null;
}

/** The body of the send-event dialog: event name, a JSON editor for its data, an optional id. */
export class EventEditor extends Panel {
  private readonly nameInput: HTMLInputElement;
  private readonly idInput: HTMLInputElement;
  private readonly errorEl: HTMLElement;
  private readonly getText: () => string;
  private readonly setText: (text: string) => void;
  private readonly editor: CodeEditorWrapper | null = null;
  private readonly labelId: string;

  constructor(value: { name: string; dataText: string; id?: string | null; waitingText?: string }, services?: IEditorServices | null) {
    super();
    this.addClass('nbd-sb-event-editor');
    const d = document;
    const nameId = nextId('nbd-sb-event-name');
    const dataId = nextId('nbd-sb-event-data');
    const idId = nextId('nbd-sb-event-id');
    const errorId = nextId('nbd-sb-event-error');
    this.nameInput = h(d, 'input', {
      id: nameId,
      class: 'jp-mod-styled nbd-sb-event-name',
      type: 'text',
      spellcheck: 'false',
      autocomplete: 'off',
    }) as HTMLInputElement;
    this.nameInput.value = value.name;
    this.idInput = h(d, 'input', {
      id: idId,
      class: 'jp-mod-styled nbd-sb-event-id',
      type: 'text',
      spellcheck: 'false',
      autocomplete: 'off',
      placeholder: 'optional: the same id twice is sent once',
    }) as HTMLInputElement;
    this.idInput.value = value.id ?? '';
    this.errorEl = h(d, 'div', { id: errorId, class: 'nbd-sb-field-error', role: 'alert' });
    const labelId = `${dataId}-label`;
    this.labelId = labelId;
    let dataWidget: Widget;
    if (services) {
      const model = new CodeEditor.Model({ mimeType: 'application/json' });
      model.sharedModel.setSource(value.dataText);
      this.editor = new CodeEditorWrapper({
        factory: services.factoryService.newInlineEditor,
        model,
        editorOptions: { config: { lineNumbers: false, lineWrap: true } },
      });
      model.sharedModel.changed.connect(() => this.validate());
      this.getText = () => model.sharedModel.getSource();
      this.setText = text => model.sharedModel.setSource(text);
      // Tab moves focus out of the editor (JSON needs no tab characters), so the dialog stays keyboard-navigable.
      this.editor.node.addEventListener(
        'keydown',
        event => {
          if (event.key === 'Tab' && !event.ctrlKey && !event.altKey && !event.metaKey) {
            event.stopPropagation();
          }
        },
        true,
      );
      dataWidget = this.editor;
    } else {
      const textarea = h(d, 'textarea', {
        id: dataId,
        class: 'jp-mod-styled nbd-sb-json-text',
        spellcheck: 'false',
        rows: '6',
        'aria-labelledby': labelId,
        'aria-describedby': errorId,
      }) as HTMLTextAreaElement;
      textarea.value = value.dataText;
      textarea.addEventListener('input', () => this.validate());
      this.getText = () => textarea.value;
      this.setText = text => {
        textarea.value = text;
      };
      dataWidget = new Widget({ node: textarea });
    }
    dataWidget.addClass('nbd-sb-json');
    const format = h(d, 'button', { type: 'button', class: 'jp-Button jp-mod-styled jp-mod-reject nbd-sb-format' }, [
      'Format JSON',
    ]) as HTMLButtonElement;
    format.addEventListener('click', () => {
      const parsed = parseEventData(this.getText());
      if (parsed.data !== null) {
        this.setText(JSON.stringify(parsed.data, null, 2));
      }
      this.validate();
    });
    this.nameInput.addEventListener('input', () => this.validate());
    const top = h(d, 'div', { class: 'nbd-sb-fields' }, [
      value.waitingText ? h(d, 'p', { class: 'nbd-sb-note' }, [value.waitingText]) : null,
      h(d, 'label', { for: nameId }, ['Event name']),
      this.nameInput,
      h(d, 'label', { for: dataId, id: labelId }, ['Data (a JSON object)']),
    ]);
    const bottom = h(d, 'div', { class: 'nbd-sb-fields' }, [
      h(d, 'div', { class: 'nbd-sb-row-end' }, [format]),
      this.errorEl,
      h(d, 'label', { for: idId }, ['Event id']),
      this.idInput,
    ]);
    this.addWidget(new Widget({ node: top }));
    this.addWidget(dataWidget);
    this.addWidget(new Widget({ node: bottom }));
  }

  protected onAfterAttach(msg: Parameters<Widget['processMessage']>[0]): void {
    super.onAfterAttach(msg);
    const content = this.editor?.node.querySelector('.cm-content');
    if (content) {
      content.setAttribute('aria-labelledby', this.labelId);
      content.setAttribute('aria-describedby', this.errorEl.id);
    }
    this.validate();
  }

  dispose(): void {
    if (this.editor && !this.editor.isDisposed) {
      const model = this.editor.model;
      this.editor.dispose();
      model.dispose();
    }
    super.dispose();
  }

  /** The first problem with what is typed, shown under the editor; null when it can be sent. */
  validate(): string | null {
    const problem = checkEventName(this.nameInput.value) ?? parseEventData(this.getText()).error;
    this.errorEl.textContent = problem ?? '';
    this.node.toggleAttribute('data-invalid', problem !== null);
    // JupyterLab's Dialog re-enables its accept button on every input event unless it finds
    // `.jp-mod-error` (or `:invalid`) inside: mark the error so both agree.
    this.errorEl.classList.toggle('jp-mod-error', problem !== null);
    const accept = this.node.closest('.jp-Dialog-content')?.querySelector<HTMLButtonElement>('.jp-mod-accept');
    if (accept) {
      accept.disabled = problem !== null;
    }
    return problem;
  }

  getValue(): { name: string; dataText: string; id: string } {
    return { name: this.nameInput.value, dataText: this.getText(), id: this.idInput.value.trim() };
  }
}

/**
 * Ask for an event to send (prefilled with what a waiting run waits for). Null if the user
 * gave up. Invalid JSON never leaves the dialog: it is said under the editor and the send
 * button stays disabled.
 */
export async function askEvent(
  initial: { name: string; data?: unknown; id?: string | null; waitingText?: string },
  services?: IEditorServices | null,
): Promise<EventValue | null> {
  let value = {
    name: initial.name,
    dataText: JSON.stringify(initial.data ?? {}, null, 2),
    id: initial.id ?? '',
  };
  for (;;) {
    const body = new EventEditor({ ...value, waitingText: initial.waitingText }, services);
    const result = await showDialog({
      title: 'Send an event',
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Send event' })],
      focusNodeSelector: services ? '.cm-content' : 'textarea',
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    value = result.value;
    const parsed = parseEventData(value.dataText);
    if (checkEventName(value.name) === null && parsed.data !== null) {
      return { name: value.name, data: parsed.data, id: value.id || null };
    }
    // Submitted with Enter while invalid: ask again, keeping what was typed.
  }
}

export interface StepChoice {
  step_id: string;
  label: string;
}

/** Ask which step to rerun from. Null if the user gave up. */
export async function askRerunStep(runId: string, steps: StepChoice[], preselect?: string | null): Promise<string | null> {
  const d = document;
  const selectId = nextId('nbd-sb-rerun-step');
  const select = h(
    d,
    'select',
    { id: selectId, class: 'jp-mod-styled nbd-sb-rerun-select' },
    steps.map(s => h(d, 'option', { value: s.step_id }, [s.label])),
  ) as HTMLSelectElement;
  if (preselect && steps.some(s => s.step_id === preselect)) {
    select.value = preselect;
  }
  class Body extends Widget {
    getValue(): string {
      return select.value;
    }
  }
  const body = new Body({
    node: h(d, 'div', { class: 'nbd-sb-dialog' }, [
      h(d, 'p', {}, [
        'A new run reuses the journal of ',
        h(d, 'code', {}, [runId]),
        ' before the step you choose, and runs that step and the rest again.',
      ]),
      h(d, 'label', { for: selectId }, ['Rerun from step']),
      select,
    ]),
  });
  const result = await showDialog({
    title: 'Rerun from a step',
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Rerun' })],
    focusNodeSelector: 'select',
  });
  return result.button.accept && result.value ? result.value : null;
}

/** A short text for any error (an `ApiError`'s message is already written for a person). */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    return err.message;
  }
  return (err as Error)?.message ?? String(err);
}

/**
 * Show why an action failed. A resume or rerun the server cannot do (409 with `resume_in`)
 * says where to do it, shows the code to run there (with a copy button) and offers to open
 * the notebook's cell. Resolves to true if the user asked for that cell.
 */
export async function showActionError(title: string, err: unknown): Promise<boolean> {
  const resumeIn: ResumeIn | null = err instanceof ApiError ? err.resumeIn : null;
  if (resumeIn === null) {
    await showErrorMessage(title, { message: errorText(err) });
    return false;
  }
  const d = document;
  const where =
    resumeIn.where === 'notebook'
      ? resumeIn.notebook
        ? ['Run this in the notebook ', h(d, 'code', {}, [resumeIn.notebook]), ':']
        : ['Run this in the notebook that started the run:']
      : [`Run this in the process that defines ${resumeIn.function_id ?? 'the function'}:`];
  const copy = h(d, 'button', { type: 'button', class: 'jp-Button jp-mod-styled jp-mod-reject nbd-sb-copy' }, [
    'Copy code',
  ]) as HTMLButtonElement;
  copy.addEventListener('click', () => {
    Clipboard.copyToSystem(resumeIn.code);
    copy.textContent = 'Copied';
  });
  const body = h(d, 'div', { class: 'nbd-sb-dialog nbd-sb-resume-in' }, [
    h(d, 'p', { class: 'nbd-sb-error-message' }, [errorText(err)]),
    h(d, 'p', {}, where),
    h(d, 'pre', { class: 'nbd-sb-code' }, [resumeIn.code]),
    h(d, 'div', { class: 'nbd-sb-row-end' }, [copy]),
  ]);
  const canOpen = resumeIn.where === 'notebook' && Boolean(resumeIn.notebook);
  const buttons = canOpen
    ? [Dialog.cancelButton({ label: 'Close' }), Dialog.okButton({ label: 'Go to the cell' })]
    : [Dialog.okButton({ label: 'Close' })];
  const result = await showDialog({ title, body: new Widget({ node: body }), buttons });
  return canOpen && result.button.accept;
}
