/**
 * The pipeline view, a main-area widget: the pipeline's graph (its steps as boxes in layers of
 * their needs, with arrows), each step's live state, its log and its outputs (artifacts and
 * executed notebook), Cancel while it runs and Resume when it failed.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { Button, ReactWidget, buildIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { requestAPI } from './request';
import { FINAL_STATES, IJob } from './tokens';
import { IStepState, usePipeline } from './usepipeline';

const BOX_W = 180;
const BOX_H = 52;
const GAP_X = 64;
const GAP_Y = 18;
const PAD = 10;

/** POST a pipeline run of `file` (a path in the server), resuming `resume` when given;
 * with `swarm`, each step a replicated job on the server's Docker Swarm. */
export function startPipeline(file: string, resume?: string, swarm = false): Promise<IJob> {
  const options: Record<string, unknown> = { file };
  if (resume) {
    options.resume = resume;
  }
  if (swarm) {
    options.swarm = true;
  }
  return requestAPI<IJob>('jobs', { method: 'POST', body: { kind: 'pipeline run', options } });
}

/** Each step's layer: 0 without needs, else one more than its deepest need. */
export function layers(steps: { name: string; needs: string[] }[]): Map<string, number> {
  const needs = new Map(steps.map(s => [s.name, s.needs]));
  const depth = new Map<string, number>();
  const visit = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) {
      return known;
    }
    if (seen.has(name)) {
      return 0; // a cycle is refused before the pipeline starts; never loop here
    }
    seen.add(name);
    const above = (needs.get(name) ?? []).filter(n => needs.has(n));
    const value = above.length ? 1 + Math.max(...above.map(n => visit(n, seen))) : 0;
    depth.set(name, value);
    return value;
  };
  steps.forEach(s => visit(s.name, new Set()));
  return depth;
}

/** A class per status ("not run" gives jp-Containerize-status-not-run). */
function statusClass(status: string): string {
  return `jp-Containerize-status-${status.replace(/ /g, '-')}`;
}

function seconds(step: IStepState): string {
  const d = step.row?.duration;
  return d === null || d === undefined ? '' : `${d.toFixed(1)} s`;
}

/** The graph: boxes in columns by layer, an arrow from each need to the step that needs it. */
export function PipelineGraph(props: {
  steps: IStepState[];
  selected: string | null;
  onSelect: (name: string) => void;
}): JSX.Element {
  const depth = layers(props.steps.map(s => s.spec));
  const columns: IStepState[][] = [];
  for (const step of props.steps) {
    const layer = depth.get(step.name) ?? 0;
    (columns[layer] = columns[layer] ?? []).push(step);
  }
  const at = new Map<string, { x: number; y: number }>();
  columns.forEach((column, c) =>
    (column ?? []).forEach((step, r) =>
      at.set(step.name, { x: PAD + c * (BOX_W + GAP_X), y: PAD + r * (BOX_H + GAP_Y) })
    )
  );
  const rows = Math.max(1, ...columns.map(c => (c ?? []).length));
  const width = PAD * 2 + columns.length * BOX_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y;
  const edges: JSX.Element[] = [];
  for (const step of props.steps) {
    const to = at.get(step.name)!;
    for (const need of step.spec.needs) {
      const from = at.get(need);
      if (!from) {
        continue;
      }
      const x1 = from.x + BOX_W;
      const y1 = from.y + BOX_H / 2;
      const x2 = to.x - 2;
      const y2 = to.y + BOX_H / 2;
      const mid = (x1 + x2) / 2;
      edges.push(
        <path
          key={`${need}->${step.name}`}
          className="jp-Containerize-edge"
          data-edge={`${need}->${step.name}`}
          d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`}
          markerEnd="url(#jp-containerize-arrow)"
        />
      );
    }
  }
  return (
    <svg
      className="jp-Containerize-graph"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label="Pipeline graph"
    >
      <defs>
        <marker
          id="jp-containerize-arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerWidth="7"
          markerHeight="7"
          orient="auto-start-reverse"
        >
          <path d="M 0 0 L 10 5 L 0 10 z" className="jp-Containerize-arrowhead" />
        </marker>
      </defs>
      {edges}
      {props.steps.map(step => {
        const { x, y } = at.get(step.name)!;
        const chosen = step.name === props.selected;
        return (
          <g
            key={step.name}
            className={`jp-Containerize-node ${statusClass(step.status)}${
              chosen ? ' jp-mod-selected' : ''
            }`}
            data-step={step.name}
            data-status={step.status}
            transform={`translate(${x}, ${y})`}
            role="button"
            tabIndex={0}
            aria-label={`${step.name}: ${step.status}`}
            onClick={() => props.onSelect(step.name)}
            onKeyDown={e => {
              if (e.key === 'Enter' || e.key === ' ') {
                props.onSelect(step.name);
              }
            }}
          >
            <title>{`${step.spec.notebook}\n${step.row?.error ?? ''}`.trim()}</title>
            <rect width={BOX_W} height={BOX_H} rx={5} />
            <text x={10} y={20} className="jp-Containerize-node-name">
              {step.name}
            </text>
            <text x={10} y={40} className="jp-Containerize-node-status">
              {step.status}
              {step.row?.reused ? ' (reused)' : ''} {seconds(step)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

function Outputs(props: { step: IStepState }): JSX.Element {
  const row = props.step.row;
  const artifacts = row?.artifacts ?? [];
  const files = Object.keys(row?.files ?? {});
  if (!artifacts.length && !files.length) {
    return <span className="jp-Containerize-muted">—</span>;
  }
  return (
    <ul className="jp-Containerize-outputs" data-field="step-outputs">
      {artifacts.map(a => (
        <li key={a} title={row?.artifacts_dir ? `${row.artifacts_dir}/${a}` : a}>
          {a}
        </li>
      ))}
      {files.map(f => (
        <li key={f} title={`the project's copy: ${row?.files?.[f]}`}>
          {f} <span className="jp-Containerize-muted">(project's copy)</span>
        </li>
      ))}
    </ul>
  );
}

function StepDetails(props: { step: IStepState; log: string[] }): JSX.Element {
  const { step } = props;
  const row = step.row;
  return (
    <section className="jp-Containerize-section" aria-label={`Step ${step.name}`}>
      <h3>
        Step {step.name}:{' '}
        <span className={statusClass(step.status)} data-field="step-status">
          {step.status}
        </span>
      </h3>
      <dl className="jp-Containerize-env">
        <dt>Notebook</dt>
        <dd>
          <code>{step.spec.notebook}</code>
        </dd>
        <dt>Run</dt>
        <dd data-field="step-run">
          {step.run?.id ?? row?.run ?? '—'}
          {row && row.attempts.length > 1 ? ` (attempts: ${row.attempts.join(', ')})` : ''}
        </dd>
        {row?.error && (
          <>
            <dt>Error</dt>
            <dd className="jp-Containerize-error">{row.error}</dd>
          </>
        )}
        <dt>Executed notebook</dt>
        <dd data-field="step-output">
          {row?.output ? <code>{row.output}</code> : '—'}
        </dd>
        <dt>Artifacts</dt>
        <dd>
          <Outputs step={step} />
          {row?.artifacts_dir && (
            <div className="jp-Containerize-muted">
              in <code>{row.artifacts_dir}</code>
            </div>
          )}
        </dd>
        {row?.image && (
          <>
            <dt>Image</dt>
            <dd>
              <code>{row.image}</code>
            </dd>
          </>
        )}
      </dl>
      <pre className="jp-Containerize-log" data-field="step-log">
        {props.log.length
          ? props.log.join('\n')
          : step.run
            ? 'Reading the log…'
            : 'This step has not started.'}
      </pre>
    </section>
  );
}

export function PipelineView(props: {
  job: IJob;
  file: string;
  onError: (error: unknown) => void;
  onTitle: (title: string) => void;
}): JSX.Element {
  const state = usePipeline(props.job, props.onError);
  const job = state.job;
  const [resuming, setResuming] = React.useState(false);
  const name = String(job?.params?.name ?? PathExt.basename(props.file));
  const final = job !== null && FINAL_STATES.includes(job.status);

  React.useEffect(() => props.onTitle(name), [name]);

  const resume = async () => {
    if (!job) {
      return;
    }
    setResuming(true);
    try {
      state.show(await startPipeline(props.file, job.id, Boolean(job.params?.swarm)));
    } catch (error) {
      props.onError(error);
    } finally {
      setResuming(false);
    }
  };

  const shown = state.steps.find(s => s.name === state.selected) ?? null;
  return (
    <div className="jp-Containerize-pipeline" data-job={job?.id}>
      <div className="jp-Containerize-row">
        <h2>{name}</h2>
        <span className={statusClass(job?.status ?? 'pending')} data-field="pipeline-status">
          {job?.status}
        </span>
        <span className="jp-Containerize-muted">
          pipeline {job?.id} · <code>{props.file}</code>
          {job?.result?.resumed_from ? ` · resuming ${job.result.resumed_from}` : ''}
          {job?.params?.swarm ? ' · on Docker Swarm' : ''}
        </span>
        {!final && (
          <Button small minimal onClick={state.cancel}>
            Cancel
          </Button>
        )}
        {final && job?.status !== 'succeeded' && job?.result?.steps && (
          <Button
            small
            onClick={() => void resume()}
            disabled={resuming}
            title="Run again only what did not succeed, reusing the rest"
          >
            Resume
          </Button>
        )}
      </div>
      {job?.error && (
        <p className="jp-Containerize-error" data-field="pipeline-error">
          {job.error.message}
          {job.error.hint ? ` — ${job.error.hint}` : ''}
        </p>
      )}
      {state.steps.length ? (
        <div className="jp-Containerize-graph-box">
          <PipelineGraph
            steps={state.steps}
            selected={state.selected}
            onSelect={state.select}
          />
        </div>
      ) : (
        !final && <p className="jp-Containerize-muted">Reading the pipeline file…</p>
      )}
      {state.steps.length > 0 && (
        <table className="jp-Containerize-steps" aria-label="Steps">
          <thead>
            <tr>
              <th>Step</th>
              <th>Status</th>
              <th>Run</th>
              <th>Tries</th>
              <th>Time</th>
              <th>Outputs</th>
            </tr>
          </thead>
          <tbody>
            {state.steps.map(step => (
              <tr
                key={step.name}
                data-step={step.name}
                className={step.name === state.selected ? 'jp-mod-selected' : ''}
                onClick={() => state.select(step.name)}
                title="Show this step's log and outputs"
              >
                <td>{step.name}</td>
                <td className={statusClass(step.status)} data-field="step-status">
                  {step.status}
                  {step.row?.reused ? ' (reused)' : ''}
                </td>
                <td>
                  <code>{step.run?.id ?? step.row?.run ?? ''}</code>
                </td>
                <td>{step.row?.attempts?.length ?? (step.run ? 1 : 0)}</td>
                <td>{seconds(step)}</td>
                <td>
                  <Outputs step={step} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown ? (
        <StepDetails step={shown} log={state.stepLog} />
      ) : (
        <section className="jp-Containerize-section" aria-label="Pipeline log">
          <h3>Pipeline log</h3>
          <p className="jp-Containerize-muted">Select a step for its log and outputs.</p>
          <pre className="jp-Containerize-log" data-field="pipeline-log">
            {state.pipelineLog.join('\n')}
          </pre>
        </section>
      )}
    </div>
  );
}

/** The main-area widget of one pipeline run (a Resume shows the new run in the same one). */
export class PipelineWidget extends MainAreaWidget<ReactWidget> {
  constructor(job: IJob, file: string, onError: (error: unknown) => void) {
    const shown: { widget: PipelineWidget | null } = { widget: null };
    const onTitle = (name: string) => {
      if (shown.widget) {
        shown.widget.title.label = `Pipeline: ${name}`;
      }
    };
    const content = ReactWidget.create(
      <PipelineView job={job} file={file} onError={onError} onTitle={onTitle} />
    );
    content.addClass('jp-Containerize');
    content.addClass('jp-Containerize-pipeline-widget');
    super({ content });
    shown.widget = this;
    this.id = `jp-containerize-pipeline-${job.id}`;
    this.title.icon = buildIcon;
    this.title.label = `Pipeline: ${PathExt.basename(file)}`;
    this.title.caption = `Pipeline run of ${file}`;
    this.title.closable = true;
  }
}
