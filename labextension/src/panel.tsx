/**
 * The Containerize side panel. Its Notebook tab: environment, Build (and Push), Run, Serve, live
 * job logs, the job history and the notebook's deployments; its Team images tab: teamimages.tsx.
 * Everything goes through requestAPI.
 */
import { Notification } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import { ReactWidget, UseSignal, buildIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import {
  DeploymentView,
  DriftView,
  EnvironmentSummary,
  History,
  JobView
} from './components';
import { BuildForm, RunForm, ServeForm } from './forms';
import { parametersSource, parseParameters } from './parameters';
import { invokeDeployment, requestAPI } from './request';
import {
  FINAL_STATES,
  IDeployment,
  IErrorInfo,
  IJob,
  IServerInfo,
  JobKind
} from './tokens';
import { SchedulesView } from './schedules';
import { OpenKernel, TeamImages } from './teamimages';
import { useDrift } from './usedrift';
import { useEnvironment } from './useenv';
import { useJobs } from './usejobs';
import { useOptions } from './useoptions';

/** The verbs that read the notebook's live kernel (push and pull act on an image). */
const NEEDS_KERNEL: JobKind[] = ['build', 'run', 'serve'];

/** The last image this notebook's builds made (newest first in the history). */
function lastBuilt(jobs: IJob[]): string | null {
  const build = jobs.find(
    j => j.kind === 'build' && j.status === 'succeeded' && j.result?.reference
  );
  return build ? String(build.result?.reference) : null;
}

/** Show an API error as a notification, the hint included. */
export function notifyError(error: unknown): void {
  const info = error as Partial<IErrorInfo>;
  const message = info.message ?? String(error);
  Notification.error(info.hint ? `${message} — ${info.hint}` : message, {
    autoClose: false
  });
}

/** Save the notebook when it has unsaved changes: the verbs act on the saved file. */
export async function saveIfDirty(panel: NotebookPanel): Promise<void> {
  if (panel.context.model.dirty && !panel.context.model.readOnly) {
    await panel.context.save();
  }
}

/** Save, then POST the job; the notification follows the request. */
async function startJob(
  panel: NotebookPanel,
  kind: JobKind,
  options: Record<string, unknown>
): Promise<IJob | null> {
  await saveIfDirty(panel);
  const kernel = NEEDS_KERNEL.includes(kind) ? panel.sessionContext.session?.kernel : null;
  const body = {
    kind,
    notebook: panel.context.path,
    options: kernel ? { ...options, kernel_id: kernel.id } : options
  };
  const request = requestAPI<IJob>('jobs', { method: 'POST', body });
  Notification.promise(request as Promise<any>, {
    pending: { message: `Starting ${kind}…` },
    success: {
      message: (job: unknown) => `${kind} started (job ${(job as IJob).id})`,
      options: { autoClose: 3000 }
    },
    error: {
      message: (reason: unknown) => {
        const e = reason as IErrorInfo;
        return e.hint ? `${e.message} — ${e.hint}` : String(e.message ?? reason);
      }
    }
  });
  try {
    return await request;
  } catch {
    return null; // shown by the notification
  }
}

function ContainerizeView(props: {
  panel: NotebookPanel;
  requests: Signal<ContainerizePanel, JobKind>;
}): JSX.Element {
  const { panel } = props;
  const path = panel.context.path;
  const { env, error: envError, loading, load: loadEnv } = useEnvironment(panel);
  const [info, setInfo] = React.useState<IServerInfo | null>(null);
  const options = useOptions();
  const jobs = useJobs(path);
  const drift = useDrift(panel);
  const finished = jobs.active && FINAL_STATES.includes(jobs.active.status);

  React.useEffect(() => {
    if (finished) {
      void drift.load(); // a build may have rewritten the lock
    }
  }, [jobs.active?.id, finished]);

  React.useEffect(() => {
    requestAPI<IServerInfo>('info').then(setInfo, notifyError);
  }, [panel]);

  const start = async (kind: JobKind, options: Record<string, unknown>) => {
    const job = await startJob(panel, kind, options);
    if (job) {
      jobs.follow(job);
    }
  };
  const startRef = React.useRef(start);
  startRef.current = start;
  const forms = React.useRef<Record<string, Record<string, unknown>>>({});

  React.useEffect(() => {
    const onRequest = (_: unknown, kind: JobKind) =>
      void startRef.current(kind, forms.current[kind] ?? {});
    props.requests.connect(onRequest);
    return () => {
      props.requests.disconnect(onRequest);
    };
  }, [props.requests]);

  const parameters = parseParameters(parametersSource(panel.model));
  const buildOff = info && !info.allow_build ? 'Building is switched off on this server' : null;
  const serveOff = info && !info.allow_serve ? 'Serving is switched off on this server' : null;
  const pushOff = info && !info.allow_push ? 'Pushing is switched off on this server' : null;
  const dir = PathExt.dirname(path);
  const stem = PathExt.basename(path, '.ipynb').replace(/[^A-Za-z0-9_.-]/g, '-');
  const mine = jobs.deployments.filter((d: IDeployment) => d.path === path);
  const defaultModel = jobs.artifacts[0] ?? PathExt.join(dir, 'model.joblib');
  forms.current.serve = { model: defaultModel, name: stem.toLowerCase() };

  return (
    <div className="jp-Containerize-body" data-notebook={path}>
      <h2>{PathExt.basename(path)}</h2>
      <EnvironmentSummary env={env} error={envError} loading={loading} onRefresh={loadEnv} />
      <DriftView
        {...drift}
        onRefresh={drift.load}
        onRebuild={() =>
          void start('build', drift.drift?.mode ? { lock: drift.drift.mode } : {})
        }
        rebuildDisabled={buildOff}
      />
      <BuildForm
        options={options}
        disabled={buildOff}
        onBuild={o => void start('build', o)}
        lastImage={lastBuilt(jobs.jobs)}
        pushDisabled={pushOff}
        onPush={o => void start('push', o)}
      />
      <RunForm
        options={options}
        parameters={parameters}
        disabled={buildOff}
        onRun={o => void start('run', o)}
        onError={m => Notification.error(m)}
      />
      <ServeForm
        options={options}
        defaultModel={defaultModel}
        defaultName={stem.toLowerCase()}
        candidates={jobs.artifacts}
        disabled={serveOff}
        onServe={o => void start('serve', o)}
      />
      {jobs.active && (
        <JobView job={jobs.active} logs={jobs.logs} onCancel={jobs.cancel} />
      )}
      {mine.length > 0 && (
        <section aria-label="Deployments">
          <h3>Deployments</h3>
          {mine.map(d => (
            <DeploymentView key={d.name} deployment={d} onSend={body => send(d.name, body)} />
          ))}
        </section>
      )}
      <SchedulesView
        path={path}
        python={env?.python_executable ?? null}
        disabled={buildOff}
        onError={notifyError}
      />
      <History jobs={jobs.jobs} selected={jobs.active?.id ?? null} onSelect={jobs.follow} />
    </div>
  );
}

async function send(name: string, body: string): Promise<string> {
  try {
    const answer = await invokeDeployment(name, body);
    return `HTTP ${answer.status}\n${answer.text}`;
  } catch (error) {
    notifyError(error);
    return '';
  }
}

export type PanelTab = 'notebook' | 'team';

function PanelTabs(props: {
  current: PanelTab;
  onSelect: (tab: PanelTab) => void;
}): JSX.Element {
  const tabs: [PanelTab, string][] = [
    ['notebook', 'Notebook'],
    ['team', 'Team images']
  ];
  return (
    <div className="jp-Containerize-tabs" role="tablist">
      {tabs.map(([tab, label]) => (
        <button
          key={tab}
          role="tab"
          aria-selected={tab === props.current}
          className={`jp-Containerize-tab${tab === props.current ? ' jp-mod-current' : ''}`}
          onClick={() => props.onSelect(tab)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

/** The side panel; it follows the notebook whose Containerize button was pressed last. */
export class ContainerizePanel extends ReactWidget {
  constructor(private readonly _openKernel: OpenKernel) {
    super();
    this.id = 'jp-containerize-panel';
    this.addClass('jp-Containerize');
    this.title.icon = buildIcon;
    this.title.caption = 'Containerize';
  }

  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  set notebook(panel: NotebookPanel | null) {
    if (panel === this._notebook) {
      return;
    }
    this._notebook = panel;
    panel?.disposed.connect(() => {
      if (this._notebook === panel) {
        this.notebook = null;
      }
    });
    this._changed.emit(panel);
  }

  /** Start a verb with the panel's current form values (palette commands). */
  request(kind: JobKind): void {
    this._requests.emit(kind);
  }

  /** Which tab shows: the notebook's verbs or the team's images. */
  get tab(): PanelTab {
    return this._tab;
  }

  set tab(tab: PanelTab) {
    this._tab = tab;
    this.update();
  }

  render(): JSX.Element {
    return (
      <>
        <PanelTabs current={this._tab} onSelect={tab => (this.tab = tab)} />
        {this._tab === 'team' ? (
          <TeamImages openKernel={this._openKernel} onError={notifyError} />
        ) : (
          <UseSignal signal={this._changed} initialArgs={this._notebook}>
            {(_, panel) =>
              panel ? (
                <ContainerizeView key={panel.id} panel={panel} requests={this._requests} />
              ) : (
                <p className="jp-Containerize-muted">
                  Open a notebook and press its Containerize button.
                </p>
              )
            }
          </UseSignal>
        )}
      </>
    );
  }

  private _tab: PanelTab = 'notebook';
  private _notebook: NotebookPanel | null = null;
  private _changed = new Signal<this, NotebookPanel | null>(this);
  private _requests = new Signal<ContainerizePanel, JobKind>(this);
}

