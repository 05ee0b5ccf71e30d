/**
 * The Schedules section of the panel: the schedules whose target is the notebook, each with its
 * cron and time zone, status, next tick and latest ticks' runs, Pause/Resume and Remove, and a
 * small form that adds one (POST schedules).
 */
import { Button } from '@jupyterlab/ui-components';
import * as React from 'react';

import { Section } from './components';
import { ISchedule, IScheduleTick } from './tokens';
import { useSchedules } from './useschedules';

/** Latest ticks shown per schedule. */
const SHOWN_TICKS = 5;

function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** A UTC time as the schedule's time zone reads it. */
export function inZone(iso: string, timezone: string): string {
  const date = new Date(iso);
  try {
    return date.toLocaleString(undefined, {
      timeZone: timezone,
      dateStyle: 'medium',
      timeStyle: 'short'
    });
  } catch {
    return date.toLocaleString();
  }
}

/** "in 3 days", "in 5 min", "2 h ago". */
export function relative(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const size = Math.abs(seconds);
  const [value, unit] =
    size < 90
      ? [size, 's']
      : size < 90 * 60
        ? [Math.round(size / 60), 'min']
        : size < 36 * 3600
          ? [Math.round(size / 3600), 'h']
          : [Math.round(size / 86400), size < 2 * 86400 ? 'day' : 'days'];
  return seconds >= 0 ? `in ${value} ${unit}` : `${value} ${unit} ago`;
}

function statusClass(status: string): string {
  return `jp-Containerize-status-${status.replace(' ', '.')}`;
}

function TickRow(props: { tick: IScheduleTick; timezone: string }): JSX.Element {
  const { tick } = props;
  return (
    <li data-field="schedule-run" title={tick.note ?? ''}>
      <span className={statusClass(tick.status)}>{tick.status}</span>{' '}
      <span className="jp-Containerize-muted">{inZone(tick.due, props.timezone)}</span>{' '}
      {tick.run && <code title="the run's id (jupyter containerize runs)">{tick.run}</code>}
      {tick.error && <span className="jp-Containerize-error"> {tick.error}</span>}
    </li>
  );
}

function ScheduleItem(props: {
  schedule: ISchedule;
  onStatus: (status: 'active' | 'paused') => void;
  onRemove: () => void;
}): JSX.Element {
  const s = props.schedule;
  const ticks = (s.state?.ticks ?? []).slice(-SHOWN_TICKS).reverse();
  const paused = s.status === 'paused';
  const image = s.newest ? 'the newest image, built at each tick' : s.image || s.image_id;
  return (
    <li className="jp-Containerize-schedule" data-schedule={s.id} data-status={s.status}>
      <div className="jp-Containerize-schedule-head">
        <code data-field="schedule-cron">{s.cron}</code>
        <span data-field="schedule-timezone">{s.timezone}</span>
        <span className={statusClass(s.status)} data-field="schedule-status">
          {s.status}
        </span>
      </div>
      <div>
        Next tick:{' '}
        {paused ? (
          <span data-field="schedule-next" className="jp-Containerize-muted">
            none while paused
          </span>
        ) : s.next ? (
          <span data-field="schedule-next" title={`${s.next} (UTC)`}>
            {inZone(s.next, s.timezone)} ({relative(s.next)})
          </span>
        ) : (
          <span data-field="schedule-next" className="jp-Containerize-muted">
            not computed yet
          </span>
        )}
      </div>
      <div className="jp-Containerize-muted" title={s.image_id}>
        Runs in {image}
      </div>
      {ticks.length ? (
        <ul className="jp-Containerize-ticks" aria-label="Last runs">
          {ticks.map(t => (
            <TickRow key={`${t.due}-${t.run}`} tick={t} timezone={s.timezone} />
          ))}
        </ul>
      ) : (
        <p className="jp-Containerize-muted">No tick yet.</p>
      )}
      <div className="jp-Containerize-row">
        {paused ? (
          <Button small onClick={() => props.onStatus('active')}>
            Resume
          </Button>
        ) : (
          <Button small onClick={() => props.onStatus('paused')}>
            Pause
          </Button>
        )}
        <Button
          small
          minimal
          onClick={props.onRemove}
          title="No more ticks; the runs it started stay"
        >
          Remove
        </Button>
        <span className="jp-Containerize-muted">{s.id}</span>
      </div>
    </li>
  );
}

/**
 * @param python the notebook kernel's interpreter: the environment a pinned image freezes
 * @param disabled why adding is refused on this server (building is switched off), or null
 */
export function SchedulesView(props: {
  path: string;
  python: string | null;
  disabled: string | null;
  onError: (error: unknown) => void;
}): JSX.Element {
  const state = useSchedules(props.path, props.onError);
  const [cron, setCron] = React.useState('');
  const [timezone, setTimezone] = React.useState(browserZone);
  const [newest, setNewest] = React.useState(false);

  const add = async () => {
    const options = {
      cron: cron.trim(),
      timezone: timezone.trim() || 'UTC',
      ...(newest ? { newest: true } : {}),
      ...(props.python ? { python: props.python } : {})
    };
    if (await state.add(options)) {
      setCron('');
    }
  };

  return (
    <Section title="Schedules">
      {state.loaded && state.schedules.length === 0 && (
        <p className="jp-Containerize-muted">No schedule runs this notebook.</p>
      )}
      {state.schedules.length > 0 && (
        <ul className="jp-Containerize-schedules">
          {state.schedules.map(s => (
            <ScheduleItem
              key={s.id}
              schedule={s}
              onStatus={status => state.setStatus(s.id, status)}
              onRemove={() => state.remove(s.id)}
            />
          ))}
        </ul>
      )}
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-cron">Cron</label>
        <input
          id="jp-containerize-cron"
          name="cron"
          value={cron}
          placeholder="0 6 * * 1-5"
          title="minute hour day-of-month month day-of-week, or @daily, @hourly ..."
          onChange={e => setCron(e.target.value)}
        />
      </div>
      <div className="jp-Containerize-row">
        <label htmlFor="jp-containerize-timezone">Time zone</label>
        <input
          id="jp-containerize-timezone"
          name="timezone"
          value={timezone}
          title="an IANA name: UTC, Europe/Paris, America/New_York ..."
          onChange={e => setTimezone(e.target.value)}
        />
      </div>
      <div className="jp-Containerize-row">
        <label title="Pin nothing now: each tick builds (or reuses) the notebook's image as it then is">
          <input
            id="jp-containerize-newest"
            type="checkbox"
            checked={newest}
            onChange={e => setNewest(e.target.checked)}
          />{' '}
          Build the newest image at each tick (instead of pinning one now)
        </label>
      </div>
      <div className="jp-Containerize-row">
        <Button
          onClick={() => void add()}
          disabled={!cron.trim() || state.adding || !!props.disabled}
          title={props.disabled ?? 'Add a schedule that runs this notebook on these ticks'}
        >
          {state.adding ? 'Adding…' : 'Add schedule'}
        </Button>
        {state.adding && !newest && (
          <span className="jp-Containerize-muted">building the image it pins…</span>
        )}
      </div>
    </Section>
  );
}
