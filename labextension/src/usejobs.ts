/**
 * React state of a notebook's jobs: the history, the followed job and its live log.
 */
import * as React from 'react';

import { followJob, requestAPI } from './request';
import { FINAL_STATES, IDeployment, IJob, JobEvent } from './tokens';
import { Notification } from '@jupyterlab/apputils';

export interface IJobsState {
  jobs: IJob[];
  active: IJob | null;
  logs: string[];
  deployments: IDeployment[];
  artifacts: string[];
  follow: (job: IJob) => void;
  cancel: () => void;
  refresh: () => void;
}

function artifactsOf(jobs: IJob[]): string[] {
  const paths: string[] = [];
  for (const job of jobs) {
    if (job.kind === 'run' && job.status === 'succeeded' && job.result) {
      const dir = String(job.result.artifacts_dir ?? '');
      for (const a of (job.result.artifacts ?? []) as { path: string }[]) {
        if (/\.(joblib|pkl|pickle|skops|onnx|ubj)$/.test(a.path)) {
          paths.push(a.path.startsWith('/') || !dir ? a.path : `${dir}/${a.path}`);
        }
      }
    }
  }
  return paths;
}

function announce(job: IJob): void {
  if (job.status === 'succeeded') {
    Notification.success(`${job.kind} succeeded`, { autoClose: 4000 });
  } else if (job.status !== 'cancelled') {
    const hint = job.error?.hint ? ` — ${job.error.hint}` : '';
    Notification.error(`${job.kind} ${job.status}: ${job.error?.message ?? ''}${hint}`, {
      autoClose: false
    });
  }
}

export function useJobs(path: string): IJobsState {
  const [jobs, setJobs] = React.useState<IJob[]>([]);
  const [active, setActive] = React.useState<IJob | null>(null);
  const [logs, setLogs] = React.useState<string[]>([]);
  const [deployments, setDeployments] = React.useState<IDeployment[]>([]);
  const abort = React.useRef<AbortController | null>(null);

  const refresh = React.useCallback(() => {
    const query = `jobs?notebook=${encodeURIComponent(path)}`;
    requestAPI<{ jobs: IJob[] }>(query).then(r => setJobs(r.jobs), () => undefined);
    requestAPI<{ deployments: IDeployment[] }>('deployments').then(
      r => setDeployments(r.deployments),
      () => undefined
    );
  }, [path]);

  const follow = React.useCallback(
    (job: IJob) => {
      abort.current?.abort();
      const controller = new AbortController();
      abort.current = controller;
      const live = !FINAL_STATES.includes(job.status);
      setActive(job);
      setLogs([]);
      refresh();
      const onEvent = (event: JobEvent) => {
        if (event.event === 'log') {
          setLogs(lines => [...lines, event.data.line]);
        } else if (event.event === 'job') {
          setActive(event.data);
        } else if (event.event === 'end') {
          refresh();
        }
      };
      followJob(job.id, onEvent, controller.signal)
        .then(async () => {
          if (live && !controller.signal.aborted) {
            announce(await requestAPI<IJob>(`jobs/${job.id}`));
          }
        })
        .catch(() => undefined);
    },
    [refresh]
  );

  const cancel = React.useCallback(() => {
    if (active) {
      requestAPI<IJob>(`jobs/${active.id}`, { method: 'DELETE' }).then(setActive, e =>
        Notification.error(String(e.message ?? e))
      );
    }
  }, [active]);

  React.useEffect(() => {
    refresh();
    return () => abort.current?.abort();
  }, [refresh]);

  return {
    jobs, active, logs, deployments, artifacts: artifactsOf(jobs), follow, cancel, refresh
  };
}
