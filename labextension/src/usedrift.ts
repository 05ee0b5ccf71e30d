/**
 * React state of a notebook's drift: has its live kernel changed since the lock was written?
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import { IDrift } from './tokens';
import { useKernelQuery } from './usekernelquery';

export interface IDriftState {
  drift: IDrift | null;
  error: string | null;
  loading: boolean;
  load: () => Promise<void>;
}

export function useDrift(panel: NotebookPanel): IDriftState {
  const { data, ...rest } = useKernelQuery<IDrift>(panel, {
    route: (kernelId, p) =>
      `drift?kernel_id=${encodeURIComponent(kernelId)}` +
      `&notebook=${encodeURIComponent(p.context.path)}`,
    noKernel: 'No kernel: start the notebook’s kernel to compare it with the lock.',
    withHint: true
  });
  return { drift: data, ...rest };
}
