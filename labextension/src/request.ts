/**
 * The one way the lab extension talks to the server: requestAPI, plus the event stream.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IErrorInfo, JobEvent } from './tokens';

const API = 'containerize/api';

export const NOT_ENABLED =
  'The jupyter_containerize server extension is not enabled';
export const NOT_ENABLED_HINT =
  'enable the server extension: `jupyter server extension enable jupyter_containerize`, then restart Jupyter';

/** An API error with the server's message and hint. */
export class ContainerizeAPIError extends Error implements IErrorInfo {
  constructor(
    message: string,
    readonly hint: string,
    readonly status: number
  ) {
    super(message);
  }
}

function url(endPoint: string): [string, ServerConnection.ISettings] {
  const settings = ServerConnection.makeSettings();
  return [URLExt.join(settings.baseUrl, API, endPoint), settings];
}

async function fail(response: Response): Promise<never> {
  if (response.status === 404) {
    let data: IErrorInfo | null = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!data?.hint || data.hint.includes('server extension enabled')) {
      throw new ContainerizeAPIError(NOT_ENABLED, NOT_ENABLED_HINT, 404);
    }
    throw new ContainerizeAPIError(data.message, data.hint ?? '', 404);
  }
  let data: IErrorInfo;
  try {
    data = await response.json();
  } catch {
    data = { message: response.statusText || `HTTP ${response.status}` };
  }
  throw new ContainerizeAPIError(
    data.message ?? `HTTP ${response.status}`,
    data.hint ?? '',
    response.status
  );
}

/**
 * Call a route of the containerize API and return its JSON.
 *
 * @param endPoint path under /containerize/api, e.g. `jobs` or `env?kernel_id=...`
 * @param init fetch options; a `body` object is sent as JSON
 */
export async function requestAPI<T>(
  endPoint = '',
  init: Omit<RequestInit, 'body'> & { body?: unknown } = {}
): Promise<T> {
  const [target, settings] = url(endPoint);
  const { body, ...rest } = init;
  const request: RequestInit = { ...rest };
  if (body !== undefined) {
    request.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(target, request, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  if (!response.ok) {
    return fail(response);
  }
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** POST a raw body to a deployment through the server; returns status and text. */
export async function invokeDeployment(
  name: string,
  body: string
): Promise<{ status: number; text: string }> {
  const [target, settings] = url(
    `deployments/${encodeURIComponent(name)}/invoke`
  );
  const response = await ServerConnection.makeRequest(
    target,
    { method: 'POST', body, headers: { 'Content-Type': 'application/json' } },
    settings
  );
  if (response.status === 404 || response.status >= 500) {
    return fail(response);
  }
  return { status: response.status, text: await response.text() };
}

/**
 * Follow a job's server-sent events until it ends or `signal` aborts.
 *
 * Uses fetch rather than EventSource so the request carries the same credentials as
 * every other request of JupyterLab (token header or cookie and XSRF).
 */
export async function followJob(
  jobId: string,
  onEvent: (event: JobEvent) => void,
  signal: AbortSignal
): Promise<void> {
  const [target, settings] = url(`jobs/${jobId}/events`);
  const response = await ServerConnection.makeRequest(
    target,
    { signal, headers: { Accept: 'text/event-stream' } },
    settings
  );
  if (!response.ok || !response.body) {
    return fail(response);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buffer += decoder.decode(value, { stream: true });
    let split = buffer.indexOf('\n\n');
    while (split >= 0) {
      const parsed = parseEvent(buffer.slice(0, split));
      buffer = buffer.slice(split + 2);
      if (parsed) {
        onEvent(parsed);
      }
      split = buffer.indexOf('\n\n');
    }
  }
}

function parseEvent(block: string): JobEvent | null {
  let name = '';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) {
      name = line.slice(7);
    } else if (line.startsWith('data: ')) {
      data.push(line.slice(6));
    }
  }
  if (!name || !data.length) {
    return null;
  }
  return { event: name, data: JSON.parse(data.join('\n')) } as JobEvent;
}
