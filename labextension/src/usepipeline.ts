/**
 * React state of one pipeline run: the pipeline job (followed through its events: the runner
 * saves its result after every step), the run job of each step (the finished ones by the id in
 * the result, the running ones found among the run jobs of the step's notebook), and the log of
 * the step shown.
 */
import * as React from 'react';

import { followJob, requestAPI } from './request';
import {
  FINAL_STATES,
  IJob,
  IPipelineStepRow,
  IPipelineStepSpec,
  JobEvent
} from './tokens';

/** Seconds between two looks for the steps' run jobs while the pipeline runs. */
export const PIPELINE_REFRESH = 2;

export interface IStepState {
  name: string;
  spec: IPipelineStepSpec;
  /** succeeded, failed, ..., "not run", or while the pipeline runs: pending, running. */
  status: string;
  row: IPipelineStepRow | null;
  /** The step's current (or last) run job. */
  run: IJob | null;
}

export interface IPipelineState {
  job: IJob | null;
  steps: IStepState[];
  pipelineLog: string[];
  selected: string | null;
  select: (step: string | null) => void;
  stepLog: string[];
  /** Show another pipeline job (after a resume). */
  show: (job: IJob) => void;
  cancel: () => void;
}

const isFinal = (status: string) => FINAL_STATES.includes(status as any);

function specsOf(job: IJob | null): IPipelineStepSpec[] {
  const steps = (job?.params?.steps ?? {}) as Record<string, IPipelineStepSpec>;
  return Object.entries(steps).map(([name, spec]) => ({
    ...spec,
    name,
    needs: spec.needs ?? []
  }));
}

function rowsOf(job: IJob | null): Record<string, IPipelineStepRow> {
  return (job?.result?.steps ?? {}) as Record<string, IPipelineStepRow>;
}

/** The steps the pipeline's log says started: the runner logs `pipeline: step NAME` as it
 * submits each one. */
export function startedSteps(log: string[]): Set<string> {
  const started = new Set<string>();
  for (const line of log) {
    const found = /^pipeline: step (\S+)$/.exec(line.trim());
    if (found) {
      started.add(found[1]);
    }
  }
  return started;
}

/** Each step's state from the pipeline job, its log and the run jobs known so far. */
export function stepStates(
  job: IJob | null,
  runs: Record<string, IJob>,
  started: Set<string> = new Set()
): IStepState[] {
  const rows = rowsOf(job);
  const live = job !== null && !isFinal(job.status);
  const since = job ? new Date(job.created).getTime() : 0;
  const claimed = new Set(
    Object.values(rows).flatMap(r => [...(r.attempts ?? []), ...(r.run ? [r.run] : [])])
  );
  return specsOf(job).map(spec => {
    const row = rows[spec.name] ?? null;
    if (row) {
      return {
        name: spec.name,
        spec,
        status: row.status,
        row,
        run: row.run ? (runs[row.run] ?? null) : null
      };
    }
    // not in the result yet: its run job, when one started for its notebook since then
    const current = live
      ? Object.values(runs)
          .filter(
            r =>
              r.notebook === spec.notebook &&
              !claimed.has(r.id) &&
              new Date(r.created).getTime() >= since - 1000
          )
          .sort((a, b) => b.created.localeCompare(a.created))[0] ?? null
      : null;
    const status = !live
      ? 'not run'
      : started.has(spec.name) || current?.status === 'running'
        ? 'running'
        : 'pending';
    return { name: spec.name, spec, status, row: null, run: current };
  });
}

export function usePipeline(initial: IJob, onError: (error: unknown) => void): IPipelineState {
  const [job, setJob] = React.useState<IJob | null>(initial);
  const [pipelineLog, setPipelineLog] = React.useState<string[]>([]);
  const [runs, setRuns] = React.useState<Record<string, IJob>>({});
  const [selected, setSelected] = React.useState<string | null>(null);
  const [stepLog, setStepLog] = React.useState<string[]>([]);
  const jobId = job?.id ?? initial.id;

  // the pipeline job: its events carry its state (and result) and its log
  React.useEffect(() => {
    const controller = new AbortController();
    setPipelineLog([]);
    const onEvent = (event: JobEvent) => {
      if (event.event === 'log') {
        setPipelineLog(lines => [...lines, event.data.line]);
      } else if (event.event === 'job') {
        setJob(event.data);
      }
    };
    followJob(jobId, onEvent, controller.signal)
      .then(async () => {
        if (!controller.signal.aborted) {
          setJob(await requestAPI<IJob>(`jobs/${jobId}`));
        }
      })
      .catch(error => {
        if (!controller.signal.aborted) {
          onError(error);
        }
      });
    return () => controller.abort();
  }, [jobId]);

  // the steps' run jobs: by id once in the result, and the running ones by notebook
  const live = job !== null && !isFinal(job.status);
  const resultKey = JSON.stringify(
    Object.values(rowsOf(job)).map(r => [r.run, r.status])
  );
  const load = React.useCallback(async () => {
    const found: Record<string, IJob> = {};
    if (live) {
      try {
        const all = await requestAPI<{ jobs: IJob[] }>('jobs?kind=run');
        const since = job ? new Date(job.created).getTime() - 1000 : 0;
        for (const r of all.jobs) {
          if (new Date(r.created).getTime() >= since) {
            found[r.id] = r;
          }
        }
      } catch {
        // shown by the next successful look
      }
    }
    const ids = Object.values(rowsOf(job))
      .map(r => r.run)
      .filter((id): id is string => !!id && !found[id]);
    await Promise.all(
      ids.map(id =>
        requestAPI<IJob>(`jobs/${id}`).then(
          r => {
            found[id] = r;
          },
          () => undefined
        )
      )
    );
    setRuns(before => ({ ...before, ...found }));
  }, [jobId, live, resultKey]);

  React.useEffect(() => {
    void load();
    if (!live) {
      return;
    }
    const timer = window.setInterval(() => void load(), PIPELINE_REFRESH * 1000);
    return () => window.clearInterval(timer);
  }, [load]);

  const steps = stepStates(job, runs, startedSteps(pipelineLog));

  // the log of the step shown: its run job's events (the whole log, then live lines)
  const shownRun = steps.find(s => s.name === selected)?.run?.id ?? null;
  React.useEffect(() => {
    setStepLog([]);
    if (!shownRun) {
      return;
    }
    const controller = new AbortController();
    followJob(
      shownRun,
      event => {
        if (event.event === 'log') {
          setStepLog(lines => [...lines, event.data.line]);
        }
      },
      controller.signal
    ).catch(() => undefined);
    return () => controller.abort();
  }, [shownRun]);

  const show = React.useCallback((next: IJob) => {
    setRuns({});
    setJob(next);
  }, []);

  const cancel = React.useCallback(() => {
    requestAPI<IJob>(`jobs/${jobId}`, { method: 'DELETE' }).then(setJob, onError);
  }, [jobId]);

  return {
    job,
    steps,
    pipelineLog,
    selected,
    select: setSelected,
    stepLog,
    show,
    cancel
  };
}
