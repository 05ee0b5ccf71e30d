/**
 * React state of a notebook's drift: has its live kernel changed since the lock was written?
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import * as React from 'react';

import { requestAPI } from './request';
import { IDrift, IErrorInfo } from './tokens';

export interface IDriftState {
  drift: IDrift | null;
  error: string | null;
  loading: boolean;
  load: () => Promise<void>;
}

export function useDrift(panel: NotebookPanel): IDriftState {
  const [drift, setDrift] = React.useState<IDrift | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);

  const load = React.useCallback(async () => {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      setError('No kernel: start the notebook’s kernel to compare it with the lock.');
      return;
    }
    const query =
      `drift?kernel_id=${encodeURIComponent(kernel.id)}` +
      `&notebook=${encodeURIComponent(panel.context.path)}`;
    setLoading(true);
    try {
      setDrift(await requestAPI<IDrift>(query));
      setError(null);
    } catch (reason) {
      const info = reason as IErrorInfo;
      setError(info.hint ? `${info.message} — ${info.hint}` : info.message);
    } finally {
      setLoading(false);
    }
  }, [panel]);

  React.useEffect(() => {
    void panel.sessionContext.ready.then(load);
  }, [panel]);

  return { drift, error, loading, load };
}
