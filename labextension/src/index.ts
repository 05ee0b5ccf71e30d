/**
 * jupyter-containerize for JupyterLab: a Containerize button in every notebook's toolbar and
 * palette commands that open the side panel for that notebook.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ToolbarButton, buildIcon } from '@jupyterlab/ui-components';

import { ContainerizePanel, notifyError, saveIfDirty } from './panel';
import { CommandIDs, JobKind } from './tokens';

const PLUGIN_ID = 'jupyter-containerize:plugin';
const TOOLTIP = 'Containerize: freeze, build, run and serve this notebook';

function activate(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  toolbarRegistry: IToolbarWidgetRegistry,
  palette: ICommandPalette | null,
  labShell: ILabShell | null
): void {
  const panel = new ContainerizePanel();
  app.shell.add(panel, 'right', { rank: 650 });

  const open = async (notebook: NotebookPanel): Promise<void> => {
    try {
      await saveIfDirty(notebook);
    } catch (error) {
      notifyError(error);
    }
    panel.notebook = notebook;
    app.shell.activateById(panel.id);
  };

  toolbarRegistry.addFactory<NotebookPanel>(
    'Notebook',
    'containerize',
    notebook =>
      new ToolbarButton({
        icon: buildIcon,
        label: 'Containerize',
        tooltip: TOOLTIP,
        onClick: () => void open(notebook)
      })
  );

  const current = () => tracker.currentWidget;
  app.commands.addCommand(CommandIDs.open, {
    label: 'Containerize: Open Panel for This Notebook',
    caption: TOOLTIP,
    icon: buildIcon,
    isEnabled: () => current() !== null,
    execute: () => {
      const notebook = current();
      return notebook ? open(notebook) : undefined;
    }
  });
  const verbs: [string, JobKind, string][] = [
    [CommandIDs.build, 'build', 'Containerize: Build Image of This Notebook'],
    [CommandIDs.run, 'run', 'Containerize: Run This Notebook in Its Image'],
    [CommandIDs.serve, 'serve', 'Containerize: Serve the Model of This Notebook']
  ];
  for (const [id, kind, label] of verbs) {
    app.commands.addCommand(id, {
      label,
      isEnabled: () => current() !== null,
      execute: async () => {
        const notebook = current();
        if (notebook) {
          await open(notebook);
          panel.request(kind);
        }
      }
    });
  }
  for (const command of [CommandIDs.open, ...verbs.map(v => v[0])]) {
    palette?.addItem({ command, category: 'Containerize' });
  }
  labShell?.currentChanged.connect(() => {
    const notebook = current();
    if (notebook && panel.isVisible && panel.notebook !== notebook) {
      panel.notebook = notebook;
    }
  });
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Freeze a notebook kernel into a container image; build, run and serve it.',
  autoStart: true,
  requires: [INotebookTracker, IToolbarWidgetRegistry],
  optional: [ICommandPalette, ILabShell],
  activate
};

export default plugin;
