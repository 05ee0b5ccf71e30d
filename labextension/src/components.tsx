/**
 * Presentational parts of the Containerize panel: environment, job, history, deployment.
 */
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { IDeployment, IDrift, IEnvironment, IJob } from './tokens';

export function Section(props: {
  title: string;
  children?: React.ReactNode;
}): JSX.Element {
  return (
    <section className={`jp-Containerize-section`} aria-label={props.title}>
      <h3>{props.title}</h3>
      {props.children}
    </section>
  );
}

export function EnvironmentSummary(props: {
  env: IEnvironment | null;
  error: string | null;
  loading: boolean;
  onRefresh: () => void;
}): JSX.Element {
  const { env, error, loading } = props;
  const shown = env?.imported.slice(0, 12) ?? [];
  return (
    <Section title="Environment">
      {loading && <p className="jp-Containerize-muted">Reading the kernel…</p>}
      {error && <p className="jp-Containerize-error">{error}</p>}
      {env && (
        <dl className="jp-Containerize-env">
          <dt>Python</dt>
          <dd data-field="python">
            {env.python_version} ({env.implementation}, {env.machine})
          </dd>
          <dt>Packages</dt>
          <dd data-field="packages">{env.distributions.length}</dd>
          <dt>Imported</dt>
          <dd data-field="imported">
            {env.imported.length
              ? shown.join(', ') +
                (env.imported.length > shown.length
                  ? ` and ${env.imported.length - shown.length} more`
                  : '')
              : 'nothing yet'}
          </dd>
          <dt>Interpreter</dt>
          <dd className="jp-Containerize-muted">{env.python_executable}</dd>
        </dl>
      )}
      {env?.warnings.map((w, i) => (
        <p key={i} className="jp-Containerize-warning">
          ⚠ {w}
        </p>
      ))}
      <RefreshRow onRefresh={props.onRefresh} loading={loading} />
    </Section>
  );
}

function RefreshRow(props: { onRefresh: () => void; loading: boolean }): JSX.Element {
  return (
    <div className="jp-Containerize-row">
      <Button small minimal onClick={props.onRefresh} disabled={props.loading}>
        Refresh
      </Button>
    </div>
  );
}

/** The lock against the live kernel: up to date, not frozen yet, or what changed. */
export function DriftView(props: {
  drift: IDrift | null;
  error: string | null;
  loading: boolean;
  onRefresh: () => void;
  onRebuild: () => void;
  rebuildDisabled: string | null;
}): JSX.Element {
  const { drift, error, loading } = props;
  return (
    <Section title="Lock">
      {loading && <p className="jp-Containerize-muted">Comparing the kernel with the lock…</p>}
      {error && <p className="jp-Containerize-error">{error}</p>}
      {drift && !drift.frozen && (
        <p className="jp-Containerize-muted" data-field="drift">
          This notebook is not frozen yet: Build writes its lock.
        </p>
      )}
      {drift?.frozen && !drift.drifted && (
        <p className="jp-Containerize-muted" data-field="drift">
          The kernel matches {drift.lock}.
        </p>
      )}
      {drift?.frozen && drift.drifted && (
        <DriftWarning
          drift={drift}
          onRebuild={props.onRebuild}
          disabled={props.rebuildDisabled}
        />
      )}
      <RefreshRow onRefresh={props.onRefresh} loading={loading} />
    </Section>
  );
}

function DriftWarning(props: {
  drift: IDrift;
  onRebuild: () => void;
  disabled: string | null;
}): JSX.Element {
  const changes = props.drift.changes ?? [];
  return (
    <div className="jp-Containerize-drift" role="alert" data-field="drift">
      <p>The kernel's environment has changed since this notebook was frozen:</p>
      <ul className="jp-Containerize-changes">
        {changes.map(line => (
          <li key={line}>{line}</li>
        ))}
      </ul>
      <div className="jp-Containerize-row">
        <Button
          onClick={props.onRebuild}
          disabled={!!props.disabled}
          title={props.disabled ?? `Update ${props.drift.lock} and build the image again`}
        >
          Rebuild
        </Button>
      </div>
    </div>
  );
}

function statusClass(status: string): string {
  return `jp-Containerize-status-${status.replace(' ', '.')}`;
}

export function JobView(props: {
  job: IJob;
  logs: string[];
  onCancel: () => void;
}): JSX.Element {
  const { job, logs } = props;
  const logRef = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    if (logRef.current) {
      logRef.current.scrollTop = logRef.current.scrollHeight;
    }
  }, [logs.length]);
  const progress = job.progress;
  const active = job.status === 'pending' || job.status === 'running';
  return (
    <Section title={`${job.kind} ${job.id}`}>
      <div className="jp-Containerize-row">
        <span className={statusClass(job.status)} data-field="job-status">
          {job.status}
        </span>
        {progress?.phase && (
          <span className="jp-Containerize-muted">{progress.phase}</span>
        )}
        {active && (
          <Button small onClick={props.onCancel}>
            Cancel
          </Button>
        )}
      </div>
      {active && (
        <progress
          className="jp-Containerize-progress"
          max={progress?.total || undefined}
          value={progress?.total ? progress.current ?? 0 : undefined}
        />
      )}
      {job.error && (
        <p className="jp-Containerize-error">
          {job.error.message}
          {job.error.hint ? ` — ${job.error.hint}` : ''}
        </p>
      )}
      <JobResult job={job} />
      <pre className="jp-Containerize-log" ref={logRef} data-field="log">
        {logs.join('\n')}
      </pre>
    </Section>
  );
}

function JobResult(props: { job: IJob }): JSX.Element | null {
  const result = props.job.result;
  if (!result || props.job.status !== 'succeeded') {
    return null;
  }
  if (props.job.kind === 'build') {
    return <p data-field="reference">Image: {String(result.reference)}</p>;
  }
  if (props.job.kind === 'push' || props.job.kind === 'pull') {
    return (
      <p data-field="pinned">
        {props.job.kind === 'push' ? 'Pushed' : 'Pulled'}:{' '}
        <code>{String(result.pinned ?? result.reference)}</code>
      </p>
    );
  }
  if (props.job.kind === 'serve') {
    return <p data-field="url">Serving at {String(result.url)}</p>;
  }
  if (props.job.kind === 'run' && Array.isArray(result.runs)) {
    return <SweepResult result={result} />;
  }
  if (props.job.kind === 'run') {
    const artifacts = (result.artifacts ?? []) as { path: string }[];
    return (
      <div data-field="run-result">
        <p>Executed notebook: {String(result.output ?? '')}</p>
        {artifacts.length > 0 && (
          <p>Artifacts: {artifacts.map(a => a.path).join(', ')}</p>
        )}
      </div>
    );
  }
  return null;
}

interface ISweepRow {
  id: string;
  status: string;
  parameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

/** A sweep's runs side by side: parameters and the metrics each run recorded; the best marked. */
function SweepResult(props: { result: Record<string, any> }): JSX.Element {
  const rows = props.result.runs as ISweepRow[];
  const best = props.result.best as ISweepRow | null;
  const params = [...new Set(rows.flatMap(r => Object.keys(r.parameters ?? {})))];
  const metrics = [...new Set(rows.flatMap(r => Object.keys(r.metrics ?? {})))];
  const show = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  return (
    <div data-field="sweep-result">
      <table className="jp-Containerize-sweep">
        <thead>
          <tr>
            {['run', 'status', ...params, ...metrics].map(h => (
              <th key={h}>{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={r.id || i} className={best && best.id === r.id ? 'jp-mod-best' : ''}>
              <td>{r.id || '-'}</td>
              <td>{r.status}</td>
              {params.map(p => (
                <td key={p}>{show(r.parameters?.[p])}</td>
              ))}
              {metrics.map(m => (
                <td key={m}>{show(r.metrics?.[m])}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {best && (
        <p data-field="best">
          Best by {String(props.result.best_metric)}: run {best.id}
        </p>
      )}
    </div>
  );
}

export function History(props: {
  jobs: IJob[];
  selected: string | null;
  onSelect: (job: IJob) => void;
}): JSX.Element {
  return (
    <Section title="History">
      {props.jobs.length === 0 && (
        <p className="jp-Containerize-muted">No jobs for this notebook yet.</p>
      )}
      <table>
        <tbody>
          {props.jobs.map(job => (
            <tr
              key={job.id}
              className={job.id === props.selected ? 'jp-mod-selected' : ''}
              onClick={() => props.onSelect(job)}
              title="Show this job's log"
            >
              <td>{job.kind}</td>
              <td className={statusClass(job.status)}>{job.status}</td>
              <td className="jp-Containerize-muted">
                {new Date(job.created).toLocaleString()}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

export function DeploymentView(props: {
  deployment: IDeployment;
  onSend: (body: string) => Promise<string>;
}): JSX.Element {
  const [body, setBody] = React.useState('{"instances": [[0.0, 1.0]]}');
  const [answer, setAnswer] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const send = async () => {
    setBusy(true);
    try {
      setAnswer(await props.onSend(body));
    } finally {
      setBusy(false);
    }
  };
  const d = props.deployment;
  return (
    <div className="jp-Containerize-deployment" data-name={d.name}>
      <p>
        <strong>{d.name}</strong>{' '}
        <a href={d.url} target="_blank" rel="noreferrer" data-field="deployment-url">
          {d.url}
        </a>
      </p>
      <textarea
        aria-label="Test request (JSON)"
        value={body}
        onChange={e => setBody(e.target.value)}
      />
      <div className="jp-Containerize-row">
        <Button small onClick={send} disabled={busy}>
          Send test request
        </Button>
      </div>
      {answer && (
        <pre className="jp-Containerize-log" data-field="answer">
          {answer}
        </pre>
      )}
    </div>
  );
}
