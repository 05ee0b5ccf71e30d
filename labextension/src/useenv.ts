/**
 * React state of the environment of a notebook's live kernel (GET env?kernel_id=...).
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Notification } from '@jupyterlab/apputils';
import * as React from 'react';

import { requestAPI } from './request';
import { IEnvironment, IErrorInfo } from './tokens';

export interface IEnvironmentState {
  env: IEnvironment | null;
  error: string | null;
  loading: boolean;
  load: () => Promise<void>;
}

export function useEnvironment(panel: NotebookPanel): IEnvironmentState {
  const [env, setEnv] = React.useState<IEnvironment | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);

  const load = React.useCallback(async () => {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      setError('No kernel: start the notebook’s kernel to read its environment.');
      return;
    }
    setLoading(true);
    try {
      setEnv(await requestAPI<IEnvironment>(`env?kernel_id=${kernel.id}`));
      setError(null);
    } catch (reason) {
      const info = reason as IErrorInfo;
      setError(info.message);
      Notification.error(info.hint ? `${info.message} — ${info.hint}` : info.message, {
        autoClose: false
      });
    } finally {
      setLoading(false);
    }
  }, [panel]);

  React.useEffect(() => {
    void panel.sessionContext.ready.then(load);
  }, [panel]);

  return { env, error, loading, load };
}
