/**
 * React state of a notebook's schedules: those whose target is the notebook, read again every
 * few seconds while the panel shows them, and the calls that add, pause, resume and remove.
 */
import * as React from 'react';

import { requestAPI } from './request';
import { ISchedule } from './tokens';

/** Seconds between two reads of the schedules while the panel is open. */
export const SCHEDULES_REFRESH = 5;

export interface IAddSchedule {
  cron: string;
  timezone: string;
  newest?: boolean;
  python?: string;
}

export interface ISchedulesState {
  schedules: ISchedule[];
  loaded: boolean;
  adding: boolean;
  add: (options: IAddSchedule) => Promise<boolean>;
  setStatus: (id: string, status: 'active' | 'paused') => void;
  remove: (id: string) => void;
  refresh: () => void;
}

export function useSchedules(
  path: string,
  onError: (error: unknown) => void
): ISchedulesState {
  const [schedules, setSchedules] = React.useState<ISchedule[]>([]);
  const [loaded, setLoaded] = React.useState(false);
  const [adding, setAdding] = React.useState(false);
  const failed = React.useRef(false);

  const refresh = React.useCallback(() => {
    requestAPI<{ schedules: ISchedule[] }>('schedules').then(
      r => {
        failed.current = false;
        setSchedules(r.schedules.filter(s => s.path === path && s.status !== 'removed'));
        setLoaded(true);
      },
      error => {
        if (!failed.current) {
          failed.current = true; // one notification, not one per refresh
          onError(error);
        }
      }
    );
  }, [path]);

  React.useEffect(() => {
    refresh();
    const timer = window.setInterval(refresh, SCHEDULES_REFRESH * 1000);
    return () => window.clearInterval(timer);
  }, [refresh]);

  const add = React.useCallback(
    async (options: IAddSchedule): Promise<boolean> => {
      setAdding(true);
      try {
        await requestAPI<ISchedule>('schedules', {
          method: 'POST',
          body: { notebook: path, ...options }
        });
        return true;
      } catch (error) {
        onError(error);
        return false;
      } finally {
        setAdding(false);
        refresh();
      }
    },
    [path, refresh]
  );

  const setStatus = React.useCallback(
    (id: string, status: 'active' | 'paused') => {
      requestAPI<ISchedule>(`schedules/${id}`, { method: 'PATCH', body: { status } }).then(
        refresh,
        onError
      );
    },
    [refresh]
  );

  const remove = React.useCallback(
    (id: string) => {
      requestAPI<ISchedule>(`schedules/${id}`, { method: 'DELETE' }).then(refresh, onError);
    },
    [refresh]
  );

  return { schedules, loaded, adding, add, setStatus, remove, refresh };
}
