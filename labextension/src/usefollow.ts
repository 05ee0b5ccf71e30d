/**
 * React state of one followed job that belongs to no notebook (a pull from Team images):
 * its state, progress and live log, from the job's server-sent events.
 */
import * as React from 'react';

import { followJob, requestAPI } from './request';
import { IJob, JobEvent } from './tokens';

export interface IFollowState {
  job: IJob | null;
  logs: string[];
  /** POST a job and follow it; resolves with the job as it ended (null when refused). */
  start: (body: Record<string, unknown>) => Promise<IJob | null>;
  cancel: () => void;
}

export function useFollow(onError: (error: unknown) => void): IFollowState {
  const [job, setJob] = React.useState<IJob | null>(null);
  const [logs, setLogs] = React.useState<string[]>([]);
  const abort = React.useRef<AbortController | null>(null);

  const start = React.useCallback(
    async (body: Record<string, unknown>): Promise<IJob | null> => {
      let created: IJob;
      try {
        created = await requestAPI<IJob>('jobs', { method: 'POST', body });
      } catch (error) {
        onError(error);
        return null;
      }
      abort.current?.abort();
      const controller = new AbortController();
      abort.current = controller;
      setJob(created);
      setLogs([]);
      const onEvent = (event: JobEvent) => {
        if (event.event === 'log') {
          setLogs(lines => [...lines, event.data.line]);
        } else if (event.event === 'job') {
          setJob(event.data);
        }
      };
      try {
        await followJob(created.id, onEvent, controller.signal);
      } catch {
        // aborted or the stream broke: the job's record below says how it ended
      }
      const ended = await requestAPI<IJob>(`jobs/${created.id}`);
      setJob(ended);
      return ended;
    },
    [onError]
  );

  const cancel = React.useCallback(() => {
    if (job) {
      requestAPI<IJob>(`jobs/${job.id}`, { method: 'DELETE' }).then(setJob, onError);
    }
  }, [job, onError]);

  React.useEffect(() => () => abort.current?.abort(), []);

  return { job, logs, start, cancel };
}
