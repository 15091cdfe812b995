/**
 * The JupyterLab (and Notebook 7) plugin: the "Durable runs" side panel, its commands,
 * the run tabs and the badge of runs waiting for an event on the side bar's icon.
 */

import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { CommandToolbarButton, ICommandPalette, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { IEditorServices } from '@jupyterlab/codeeditor';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ToolbarButton, checkIcon, notebookIcon, redoIcon, refreshIcon, runIcon, stopIcon } from '@jupyterlab/ui-components';
import type { ReadonlyJSONObject, ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ACTIVE_STATUSES, RESUMABLE_STATUSES, RunsApi } from './api';
import { isSingleDocumentApp, revealCellFromLocation } from './cell';
import { RunsController } from './controller';
import { RunsFeed } from './feed';
import { BadgedIcon, runsIcon } from './icons';
import { RunsPanel } from './panel';
import type { RunRef, RunView } from './runview';

export namespace CommandIDs {
  export const show = 'nbdurable:show-runs';
  export const refresh = 'nbdurable:refresh-runs';
  export const open = 'nbdurable:open-run';
  export const cancel = 'nbdurable:cancel-run';
  export const resume = 'nbdurable:resume-run';
  export const rerun = 'nbdurable:rerun-run';
  export const sendEvent = 'nbdurable:send-event';
  export const goToCell = 'nbdurable:go-to-cell';
}

const CATEGORY = 'Durable runs';

function refArgs(ref: RunRef): ReadonlyJSONObject {
  return { run_id: ref.run_id, journal: ref.journal };
}

function addCommands(app: JupyterFrontEnd, controller: RunsController, panel: RunsPanel): void {
  const { commands } = app;
  const ref = (args: ReadonlyPartialJSONObject): RunRef | null => controller.resolve(args as Partial<RunRef>);
  const status = (args: ReadonlyPartialJSONObject): string | null => {
    const r = ref(args);
    return r ? controller.status(r) : null;
  };
  commands.addCommand(CommandIDs.show, {
    label: 'Durable Runs',
    caption: 'Show the runs of every journal this server serves',
    icon: runsIcon,
    execute: () => {
      app.shell.activateById(panel.id);
      panel.focusList();
    },
  });
  commands.addCommand(CommandIDs.refresh, {
    label: 'Reload Durable Runs',
    icon: refreshIcon,
    execute: () => controller.reload(),
  });
  commands.addCommand(CommandIDs.open, {
    label: 'Open Run Timeline',
    caption: "Open the run's timeline in a tab",
    icon: runsIcon,
    isEnabled: args => ref(args) !== null,
    execute: async args => {
      const r = ref(args);
      if (r) {
        await controller.openRun(r);
      }
    },
  });
  commands.addCommand(CommandIDs.cancel, {
    label: 'Cancel Run…',
    caption: 'Cancel the run (asks first)',
    icon: stopIcon,
    isEnabled: args => ACTIVE_STATUSES.has(status(args) ?? ''),
    execute: async args => {
      const r = ref(args);
      return r ? controller.cancel(r) : undefined;
    },
  });
  commands.addCommand(CommandIDs.resume, {
    label: 'Resume Run',
    caption: 'Resume a failed or interrupted run in the Jupyter server',
    icon: runIcon,
    isEnabled: args => RESUMABLE_STATUSES.has(status(args) ?? ''),
    execute: async args => {
      const r = ref(args);
      return r ? controller.resume(r) : undefined;
    },
  });
  commands.addCommand(CommandIDs.rerun, {
    label: 'Rerun From a Step…',
    caption: 'A new run that reuses the journal before the step you choose',
    icon: redoIcon,
    isEnabled: args => ref(args) !== null,
    execute: async args => {
      const r = ref(args);
      return r ? controller.rerun(r, typeof args.from_step === 'string' ? args.from_step : null) : undefined;
    },
  });
  commands.addCommand(CommandIDs.sendEvent, {
    label: args => (status(args) === 'waiting' ? 'Approve: Send Event…' : 'Send Event…'),
    caption: 'Send an event (JSON data) to the runs waiting for it',
    icon: checkIcon,
    execute: async args => controller.sendEvent(ref(args)),
  });
  commands.addCommand(CommandIDs.goToCell, {
    label: 'Go to Cell',
    caption: 'Open the notebook that started the run at its cell',
    icon: notebookIcon,
    isEnabled: args => {
      const r = ref(args);
      return r !== null && controller.origin(r) !== null;
    },
    execute: async args => {
      const r = ref(args);
      return r ? controller.goToCell(r) : undefined;
    },
  });
  const selector = '.nbd-sb-run';
  [CommandIDs.open, CommandIDs.goToCell, CommandIDs.sendEvent, CommandIDs.resume, CommandIDs.rerun, CommandIDs.cancel].forEach(
    (command, rank) => app.contextMenu.addItem({ command, selector, rank }),
  );
  controller.model.selectionChanged.connect(() => commands.notifyCommandChanged());
}

/** The run tab's toolbar: the same commands, for this run. */
function decorate(app: JupyterFrontEnd, widget: MainAreaWidget<RunView>): void {
  const args = refArgs(widget.content.run);
  widget.toolbar.addItem(
    'nbdurable-refresh',
    new ToolbarButton({
      icon: refreshIcon,
      label: 'Reload',
      tooltip: 'Load this timeline again',
      onClick: () => void widget.content.refresh(),
    }),
  );
  const items: Array<[string, string]> = [
    ['go-to-cell', CommandIDs.goToCell],
    ['send-event', CommandIDs.sendEvent],
    ['resume', CommandIDs.resume],
    ['rerun', CommandIDs.rerun],
    ['cancel', CommandIDs.cancel],
  ];
  for (const [name, id] of items) {
    const button = new CommandToolbarButton({ commands: app.commands, id, args, label: app.commands.label(id, args) });
    widget.toolbar.addItem(`nbdurable-${name}`, button);
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbdurable:runs-sidebar',
  description: 'A side panel of the runs in every journal the Jupyter server serves, live, with their timelines and actions.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, IDocumentManager, IEditorServices],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    docManager: IDocumentManager | null,
    editorServices: IEditorServices | null,
  ) => {
    const api = new RunsApi();
    const feed = new RunsFeed(api);
    const tracker = new WidgetTracker<MainAreaWidget<RunView>>({ namespace: 'nbdurable-runs' });
    const controller = new RunsController({
      app,
      api,
      feed,
      tracker,
      docManager,
      editorServices,
      decorate: widget => {
        decorate(app, widget);
        // A run's status moved (its caption says it): the toolbar's buttons follow.
        widget.content.title.changed.connect(() => app.commands.notifyCommandChanged());
      },
    });
    const panel = new RunsPanel(controller.model, {
      reload: () => void controller.reload(),
      loadMore: () => void controller.loadMore(),
      act: (action, run) => controller.act(action, run),
    });
    panel.title.icon = runsIcon;
    controller.watch(
      (loading, error) => panel.setLoading(loading, error),
      journals => panel.setJournals(journals),
    );
    feed.stateChanged.connect((_, state) => {
      panel.setFeedState(state, feed.lastError);
      commandsChanged();
    });
    panel.setFeedState(feed.state, '');
    let badge = -1;
    controller.model.changed.connect(() => {
      const waiting = controller.model.waiting;
      if (waiting !== badge) {
        badge = waiting;
        panel.title.icon = new BadgedIcon(waiting);
        panel.title.caption =
          waiting > 0 ? `Durable runs: ${waiting} waiting for an approval or event` : 'Durable runs';
      }
    });
    app.shell.add(panel, 'left', { rank: 600, type: 'Durable runs' });
    addCommands(app, controller, panel);
    function commandsChanged(): void {
      app.commands.notifyCommandChanged();
    }
    if (palette) {
      for (const command of [CommandIDs.show, CommandIDs.refresh, CommandIDs.sendEvent]) {
        palette.addItem({ command, category: CATEGORY });
      }
    }
    if (restorer) {
      restorer.add(panel, 'nbdurable-runs');
      void restorer.restore(tracker, {
        command: CommandIDs.open,
        args: widget => refArgs(widget.content.run),
        name: widget => `${widget.content.run.journal}:${widget.content.run.run_id}`,
      });
    }
    void feed.start();
    void controller.loadJournals();
    if (isSingleDocumentApp(app)) {
      void revealCellFromLocation(app);
    }
  },
};

export default plugin;
