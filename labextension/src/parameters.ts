/**
 * The notebook's parameters cell (tagged "parameters", as papermill reads it), read from the
 * notebook model in the browser: simple `name = literal` assignments become form fields.
 */
import { INotebookModel } from '@jupyterlab/notebook';

export type ParameterType = 'int' | 'float' | 'str' | 'bool' | 'other';

export interface IParameter {
  name: string;
  type: ParameterType;
  /** The default as written in the cell (Python source). */
  source: string;
}

const ASSIGNMENT = /^([A-Za-z_]\w*)\s*(?::[^=]+)?=\s*(.+?)\s*(#.*)?$/;

/** The source of the first cell tagged "parameters", or null. */
export function parametersSource(model: INotebookModel | null): string | null {
  if (!model) {
    return null;
  }
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    const tags = cell.getMetadata('tags');
    if (Array.isArray(tags) && tags.includes('parameters')) {
      return cell.sharedModel.getSource();
    }
  }
  return null;
}

function typeOf(source: string): ParameterType {
  if (/^[-+]?\d+$/.test(source)) {
    return 'int';
  }
  if (/^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(source)) {
    return 'float';
  }
  if (/^(True|False)$/.test(source)) {
    return 'bool';
  }
  if (/^(['"]).*\1$/.test(source)) {
    return 'str';
  }
  return 'other';
}

/** The parameters declared in a parameters cell's source. */
export function parseParameters(source: string | null): IParameter[] {
  const found: IParameter[] = [];
  for (const line of (source ?? '').split('\n')) {
    const match = ASSIGNMENT.exec(line.trim());
    if (match && !line.startsWith(' ')) {
      found.push({ name: match[1], type: typeOf(match[2]), source: match[2] });
    }
  }
  return found;
}

/** The form's text as the JSON value papermill injects; throws on a value of the wrong type. */
export function toValue(param: IParameter, text: string): unknown {
  const value = text.trim();
  switch (param.type) {
    case 'int':
      if (!/^[-+]?\d+$/.test(value)) {
        throw new Error(`${param.name} must be a whole number`);
      }
      return parseInt(value, 10);
    case 'float':
      if (value === '' || isNaN(Number(value))) {
        throw new Error(`${param.name} must be a number`);
      }
      return Number(value);
    case 'bool':
      return value === 'True' || value === 'true';
    case 'str':
      return value.replace(/^(['"])(.*)\1$/, '$2');
    default:
      try {
        return JSON.parse(value);
      } catch {
        return value;
      }
  }
}

/** The form's initial text for a parameter. */
export function initialText(param: IParameter): string {
  return param.type === 'str'
    ? param.source.replace(/^(['"])(.*)\1$/, '$2')
    : param.source;
}
