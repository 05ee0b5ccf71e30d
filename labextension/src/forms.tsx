/**
 * The verb forms of the panel: Build (and Push), Run (from the parameters cell) and Serve.
 * Their choices and defaults come from the server's option table (GET options), so a value an
 * administrator configured (e.g. ContainerizeConfig.lock_mode) is the form's default.
 */
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { initialText, IParameter, toValue } from './parameters';
import { Section } from './components';
import { IOptionTable } from './tokens';
import { defaultText, optionOf } from './useoptions';

const READING = "Reading the server's options…";

export type Submit = (options: Record<string, unknown>) => void;

export function BuildForm(props: {
  options: IOptionTable | null;
  disabled: string | null;
  onBuild: Submit;
  lastImage: string | null;
  pushDisabled: string | null;
  onPush: Submit;
}): JSX.Element {
  const lockOption = optionOf(props.options, 'build', 'lock');
  const noCacheOption = optionOf(props.options, 'build', 'no_cache');
  const pushOption = optionOf(props.options, 'build', 'push');
  const registry = defaultText(optionOf(props.options, 'push', 'registry'));
  // null: the user has not chosen, so the server's default stands
  const [lock, setLock] = React.useState<string | null>(null);
  const [noCache, setNoCache] = React.useState<boolean | null>(null);
  const [pushTo, setPushTo] = React.useState('');
  const chosenLock = lock ?? defaultText(lockOption);
  const chosenNoCache = noCache ?? Boolean(noCacheOption?.default);
  const disabled = props.disabled ?? (lockOption ? null : READING);
  const options: Record<string, unknown> = { lock: chosenLock, no_cache: chosenNoCache };
  if (pushTo) {
    options.push = pushTo;
  }
  return (
    <Section title="Build">
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-lock">Lock</label>
        <select
          id="jp-containerize-lock"
          value={chosenLock}
          title={lockOption?.help}
          disabled={!lockOption}
          onChange={e => setLock(e.target.value)}
        >
          {(lockOption?.choices ?? []).map(choice => (
            <option key={choice} value={choice}>
              {choice}
            </option>
          ))}
        </select>
      </div>
      <div className="jp-Containerize-row">
        <label title={noCacheOption?.help}>
          <input
            type="checkbox"
            checked={chosenNoCache}
            onChange={e => setNoCache(e.target.checked)}
          />{' '}
          no cache
        </label>
      </div>
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-push-to">Push to</label>
        <input
          id="jp-containerize-push-to"
          type="text"
          placeholder="optional: HOST/NAME:TAG (works with no engine)"
          title={pushOption?.help}
          value={pushTo}
          onChange={e => setPushTo(e.target.value.trim())}
        />
      </div>
      <div className="jp-Containerize-row">
        <Button
          onClick={() => props.onBuild(options)}
          disabled={!!disabled}
          title={disabled ?? 'Build the image of this notebook'}
        >
          Build
        </Button>
        <Button
          onClick={() => props.onPush({ image: props.lastImage })}
          disabled={!!props.pushDisabled || !props.lastImage}
          title={
            props.pushDisabled ??
            (props.lastImage
              ? `Push ${props.lastImage} to ${registry || 'the team registry'}`
              : 'Build an image first, then push it')
          }
        >
          Push
        </Button>
      </div>
      {props.lastImage && (
        <p className="jp-Containerize-muted" data-field="last-image">
          Last built: {props.lastImage}
        </p>
      )}
    </Section>
  );
}

export function RunForm(props: {
  options: IOptionTable | null;
  parameters: IParameter[];
  disabled: string | null;
  onRun: Submit;
  onError: (message: string) => void;
}): JSX.Element {
  const [values, setValues] = React.useState<Record<string, string>>({});
  const [sweep, setSweep] = React.useState(false);
  const [concurrency, setConcurrency] = React.useState<string | null>(null);
  const [best, setBest] = React.useState('');
  const concurrencyOption = optionOf(props.options, 'run', 'concurrency');
  const chosenConcurrency = concurrency ?? defaultText(concurrencyOption);
  const text = (p: IParameter) => values[p.name] ?? initialText(p);
  const changed = (p: IParameter) =>
    values[p.name] !== undefined && values[p.name] !== initialText(p);
  const submit = () => {
    const parameters: Record<string, unknown> = {};
    if (sweep) {
      // each value a comma-separated list; the server types and checks them
      for (const p of props.parameters.filter(changed)) {
        parameters[p.name] = values[p.name];
      }
      const options: Record<string, unknown> = {
        sweep: true,
        parameters,
        concurrency: Number(chosenConcurrency)
      };
      if (best.trim()) {
        options.best = best.trim();
      }
      props.onRun(options);
      return;
    }
    try {
      for (const p of props.parameters.filter(changed)) {
        parameters[p.name] = toValue(p, values[p.name]);
      }
    } catch (error) {
      props.onError((error as Error).message);
      return;
    }
    props.onRun({ parameters });
  };
  const timeout = defaultText(optionOf(props.options, 'run', 'timeout'));
  return (
    <Section title="Run">
      {props.parameters.length === 0 && (
        <p className="jp-Containerize-muted">
          No cell tagged “parameters”: the notebook runs as saved.
        </p>
      )}
      {props.parameters.map(p => (
        <div className="jp-Containerize-row" key={p.name}>
          <label htmlFor={`jp-containerize-param-${p.name}`}>{p.name}</label>
          <input
            id={`jp-containerize-param-${p.name}`}
            name={p.name}
            value={text(p)}
            title={`${p.type}, default ${p.source}`}
            onChange={e => setValues({ ...values, [p.name]: e.target.value })}
          />
        </div>
      ))}
      {props.parameters.length > 0 && (
        <div className="jp-Containerize-row">
          <label title={optionOf(props.options, 'run', 'sweep')?.help}>
            <input
              id="jp-containerize-sweep"
              type="checkbox"
              checked={sweep}
              onChange={e => setSweep(e.target.checked)}
            />{' '}
            Sweep: one run per combination of comma-separated values
          </label>
        </div>
      )}
      {sweep && (
        <>
          <div className="jp-Containerize-row">
            <label htmlFor="jp-containerize-concurrency">At once</label>
            <input
              id="jp-containerize-concurrency"
              type="number"
              min={1}
              value={chosenConcurrency}
              title={concurrencyOption?.help}
              onChange={e => setConcurrency(e.target.value)}
            />
          </div>
          <div className="jp-Containerize-row">
            <label htmlFor="jp-containerize-best">Best by</label>
            <input
              id="jp-containerize-best"
              value={best}
              placeholder="metric, or metric:min"
              title={optionOf(props.options, 'run', 'best')?.help}
              onChange={e => setBest(e.target.value)}
            />
          </div>
        </>
      )}
      <div className="jp-Containerize-row">
        <Button
          onClick={submit}
          disabled={!!props.disabled}
          title={
            props.disabled ??
            `Run the notebook in its image${timeout ? ` (it stops after ${timeout} s)` : ''}`
          }
        >
          {sweep ? 'Run sweep' : 'Run'}
        </Button>
      </div>
    </Section>
  );
}

export function ServeForm(props: {
  options: IOptionTable | null;
  defaultModel: string;
  defaultName: string;
  candidates: string[];
  disabled: string | null;
  onServe: Submit;
}): JSX.Element {
  const [model, setModel] = React.useState<string | null>(null);
  const [name, setName] = React.useState<string | null>(null);
  const chosen = model ?? props.candidates[0] ?? props.defaultModel;
  const help = (name: string) => optionOf(props.options, 'serve', name)?.help;
  return (
    <Section title="Serve">
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-model">Model file</label>
        <input
          id="jp-containerize-model"
          list="jp-containerize-models"
          title={help('model')}
          value={chosen}
          onChange={e => setModel(e.target.value)}
        />
        <datalist id="jp-containerize-models">
          {props.candidates.map(c => (
            <option key={c} value={c} />
          ))}
        </datalist>
      </div>
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-name">Name</label>
        <input
          id="jp-containerize-name"
          title={help('name')}
          value={name ?? props.defaultName}
          onChange={e => setName(e.target.value)}
        />
      </div>
      <div className="jp-Containerize-row">
        <Button
          onClick={() =>
            props.onServe({ model: chosen, name: name ?? props.defaultName })
          }
          disabled={!!props.disabled}
          title={props.disabled ?? 'Serve the model in a container'}
        >
          Serve
        </Button>
      </div>
    </Section>
  );
}
