/**
 * React state of one GET about a notebook's live kernel, loaded when the session is ready
 * and again on demand.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import * as React from 'react';

import { requestAPI } from './request';
import { IErrorInfo } from './tokens';

export interface IKernelQueryState<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  load: () => Promise<void>;
}

export interface IKernelQueryOptions {
  /** The route under /containerize/api/ for this kernel. */
  route: (kernelId: string, panel: NotebookPanel) => string;
  /** Shown when the notebook has no kernel to ask. */
  noKernel: string;
  /** Called with a failure's message and hint, besides keeping it as `error`. */
  onError?: (info: IErrorInfo) => void;
  /** Keep the hint in `error` (else only the message). */
  withHint?: boolean;
}

export function useKernelQuery<T>(
  panel: NotebookPanel,
  options: IKernelQueryOptions
): IKernelQueryState<T> {
  const [data, setData] = React.useState<T | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);
  const { route, noKernel, onError, withHint } = options;

  const load = React.useCallback(async () => {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      setError(noKernel);
      return;
    }
    setLoading(true);
    try {
      setData(await requestAPI<T>(route(kernel.id, panel)));
      setError(null);
    } catch (reason) {
      const info = reason as IErrorInfo;
      setError(withHint && info.hint ? `${info.message} — ${info.hint}` : info.message);
      onError?.(info);
    } finally {
      setLoading(false);
    }
  }, [panel]);

  React.useEffect(() => {
    void panel.sessionContext.ready.then(load);
  }, [panel]);

  return { data, error, loading, load };
}
