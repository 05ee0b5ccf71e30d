/**
 * React state of the environment of a notebook's live kernel (GET env?kernel_id=...).
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Notification } from '@jupyterlab/apputils';

import { IEnvironment } from './tokens';
import { useKernelQuery } from './usekernelquery';

export interface IEnvironmentState {
  env: IEnvironment | null;
  error: string | null;
  loading: boolean;
  load: () => Promise<void>;
}

export function useEnvironment(panel: NotebookPanel): IEnvironmentState {
  const { data, ...rest } = useKernelQuery<IEnvironment>(panel, {
    route: kernelId => `env?kernel_id=${encodeURIComponent(kernelId)}`,
    noKernel: 'No kernel: start the notebook’s kernel to read its environment.',
    onError: info =>
      Notification.error(info.hint ? `${info.message} — ${info.hint}` : info.message, {
        autoClose: false
      })
  });
  return { env: data, ...rest };
}
