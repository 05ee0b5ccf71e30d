/**
 * jupyter-containerize for JupyterLab: a Containerize button in every notebook's toolbar,
 * palette commands that open the side panel for that notebook, and the Team images tab.
 */
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ToolbarButton, buildIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ContainerizePanel, notifyError, saveIfDirty } from './panel';
import { PipelineWidget, startPipeline } from './pipelineview';
import { KernelTarget } from './teamimages';
import { CommandIDs, JobKind } from './tokens';

const PLUGIN_ID = 'jupyter-containerize:plugin';
const TOOLTIP = 'Containerize: freeze, build, run and serve this notebook';

function activate(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  toolbarRegistry: IToolbarWidgetRegistry,
  palette: ICommandPalette | null,
  labShell: ILabShell | null,
  fileBrowser: IDefaultFileBrowser | null
): void {
  const openKernel = async (name: string, target: KernelTarget): Promise<void> => {
    await app.serviceManager.kernelspecs.refreshSpecs();
    if (target === 'console') {
      await app.commands.execute('console:create', { kernelPreference: { name } });
    } else {
      await app.commands.execute('notebook:create-new', { kernelName: name });
    }
  };
  const panel = new ContainerizePanel(openKernel);
  app.shell.add(panel, 'right', { rank: 650 });

  const open = async (notebook: NotebookPanel): Promise<void> => {
    try {
      await saveIfDirty(notebook);
    } catch (error) {
      notifyError(error);
    }
    panel.notebook = notebook;
    panel.tab = 'notebook';
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
  app.commands.addCommand(CommandIDs.teamImages, {
    label: 'Containerize: Team Images',
    caption: 'Search, pull and open kernels in the images of the team registry',
    icon: buildIcon,
    execute: () => {
      panel.tab = 'team';
      app.shell.activateById(panel.id);
    }
  });
  // a pipeline file (args.path, or the one selected in the file browser): run it, show its graph
  const pipelineFile = (): string | null => {
    const items = fileBrowser ? Array.from(fileBrowser.selectedItems()) : [];
    return items.length === 1 && /\.ya?ml$/i.test(items[0].path) ? items[0].path : null;
  };
  const pipelineCommand = (swarm: boolean) => ({
    label: swarm ? 'Containerize: Run pipeline on Docker Swarm' : 'Containerize: Run pipeline',
    caption: swarm
      ? 'Run each step of this pipeline as a replicated job on the Docker Swarm the server\'s ' +
        'engine manages, and show its graph'
      : 'Run the pipeline of notebooks this YAML file describes and show its graph',
    icon: buildIcon,
    isVisible: (args: ReadonlyPartialJSONObject) =>
      typeof args.path === 'string' || pipelineFile() !== null,
    execute: async (args: ReadonlyPartialJSONObject) => {
      const file = typeof args.path === 'string' ? args.path : pipelineFile();
      if (!file) {
        return;
      }
      try {
        const job = await startPipeline(file, undefined, swarm);
        const view = new PipelineWidget(job, file, notifyError);
        app.shell.add(view, 'main');
        app.shell.activateById(view.id);
      } catch (error) {
        notifyError(error);
      }
    }
  });
  app.commands.addCommand(CommandIDs.runPipeline, pipelineCommand(false));
  app.commands.addCommand(CommandIDs.runPipelineSwarm, pipelineCommand(true));
  for (const [command, rank] of [
    [CommandIDs.runPipeline, 60],
    [CommandIDs.runPipelineSwarm, 61]
  ] as const) {
    app.contextMenu.addItem({
      command,
      selector: '.jp-DirListing-item[data-file-type="yaml"]',
      rank
    });
  }
  for (const command of [
    CommandIDs.open,
    CommandIDs.teamImages,
    CommandIDs.runPipeline,
    CommandIDs.runPipelineSwarm,
    ...verbs.map(v => v[0])
  ]) {
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
  optional: [ICommandPalette, ILabShell, IDefaultFileBrowser],
  activate
};

export default plugin;
