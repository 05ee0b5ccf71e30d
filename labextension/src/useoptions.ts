/**
 * The server's option table (GET options): the forms' choices and defaults, as the server's
 * configuration gives them, read once per panel.
 */
import * as React from 'react';

import { requestAPI } from './request';
import { IOptionSpec, IOptionTable, JobKind } from './tokens';

export function useOptions(): IOptionTable | null {
  const [table, setTable] = React.useState<IOptionTable | null>(null);
  React.useEffect(() => {
    requestAPI<IOptionTable>('options').then(setTable, () => undefined);
  }, []);
  return table;
}

/** One option of a verb, when the table has been read and names it. */
export function optionOf(
  table: IOptionTable | null,
  verb: JobKind,
  name: string
): IOptionSpec | null {
  return table?.verbs[verb]?.options.find(o => o.name === name) ?? null;
}

/** The option's default as text ('' when it has none). */
export function defaultText(option: IOptionSpec | null): string {
  const value = option?.default;
  return value === null || value === undefined ? '' : String(value);
}
