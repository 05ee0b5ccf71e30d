/**
 * Types of what the server's /containerize/api routes send (core/models.py on the Python side).
 */

export type JobKind = 'build' | 'run' | 'serve' | 'push' | 'pull';
export type JobStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'timed out';

export interface IErrorInfo {
  message: string;
  hint?: string;
  kind?: string;
}

export interface IProgress {
  kind?: string;
  message?: string;
  phase?: string;
  current?: number;
  total?: number;
}

export interface IJob {
  id: string;
  kind: JobKind;
  status: JobStatus;
  created: string;
  updated: string;
  notebook: string | null;
  path: string | null;
  params: Record<string, unknown>;
  result: Record<string, any> | null;
  error: IErrorInfo | null;
  progress: IProgress | null;
  container: string | null;
}

export interface IDistribution {
  name: string;
  version: string;
  source: string;
}

export interface IEnvironment {
  python_version: string;
  python_executable: string;
  implementation: string;
  platform_system: string;
  machine: string;
  distributions: IDistribution[];
  imported: string[];
  live_kernel: boolean;
  warnings: string[];
}

/** GET drift: the notebook's lock against the lock its live kernel would give now. */
export interface IDrift {
  frozen: boolean;
  drifted?: boolean;
  changes?: string[];
  lock?: string;
  mode?: string;
}

/** GET deployments: what runs now; job and path when a serve job of this server started it. */
export interface IDeployment {
  name: string;
  image: string;
  url: string;
  container: string;
  model_sha256: string;
  flavor: string;
  status: string;
  job: string | null;
  path: string | null;
}

export interface IServerInfo {
  version: string;
  allow_build: boolean;
  allow_push: boolean;
  allow_serve: boolean;
  registry?: string;
}

/** One option of a verb as the server's options route describes it (core/options.py). */
export interface IOptionSpec {
  name: string;
  type: 'str' | 'bool' | 'int' | 'number' | 'object' | 'list';
  /** The default this server's configuration gives (e.g. a configured lock_mode). */
  default: unknown;
  choices: string[];
  help: string;
  trait: string | null;
  required: boolean;
}

export interface IVerbSpec {
  name: string;
  help: string;
  switch: string | null;
  notebook: boolean;
  options: IOptionSpec[];
}

/** GET options: every job verb and the options a request may carry. */
export interface IOptionTable {
  verbs: Partial<Record<JobKind, IVerbSpec>>;
}

/** One image of the team catalog (GET images; core/catalog.py describe()). */
export interface ITeamImage {
  reference: string;
  pinned: string;
  repository: string;
  tag: string;
  digest: string;
  author: string;
  notebook: string;
  python: string;
  packages: string[];
  model: Record<string, string>;
  created: string;
  size: number;
}

export interface ICatalog {
  registry: string;
  query: string;
  total: number;
  images: ITeamImage[];
}

/** A kernelspec whose kernel runs in an image (GET/POST kernels). */
export interface IImageKernel {
  name: string;
  image: string;
  display_name: string;
  resource_dir: string;
}

/** One server-sent event of a job: a log line, the job's state, or the end. */
export type JobEvent =
  | { event: 'log'; data: { seq: number; line: string } }
  | { event: 'job'; data: IJob }
  | { event: 'end'; data: { status: JobStatus } };

/** One tick of a schedule as its scheduler recorded it (the latest ticks, oldest first). */
export interface IScheduleTick {
  due: string;
  status: string;
  run: string | null;
  note?: string;
  error?: string | null;
}

/** A schedule (GET schedules; core/schedule/store.py Schedule.to_json). */
export interface ISchedule {
  id: string;
  status: 'active' | 'paused' | 'removed';
  created: string;
  updated: string;
  target: string;
  /** The notebook's path in the server. */
  path: string | null;
  cron: string;
  timezone: string;
  kind: string;
  image: string;
  image_id: string;
  newest: boolean;
  parameters: Record<string, unknown>;
  next: string | null;
  last_due: string | null;
  state: { ticks?: IScheduleTick[] };
}

/** One step of a pipeline as its file declares it (the pipeline job's params.steps). */
export interface IPipelineStepSpec {
  name: string;
  notebook: string;
  needs: string[];
  outputs: string[];
  inputs: string[];
}

/** One step's row in the pipeline job's result (core/pipeline/runner.py), saved after each
 * step. */
export interface IPipelineStepRow {
  status: string;
  run: string | null;
  attempts: string[];
  image: string | null;
  notebook: string;
  output: string | null;
  artifacts_dir: string | null;
  artifacts: string[];
  files?: Record<string, string>;
  error: string | null;
  reused: boolean;
  duration: number | null;
}

export const FINAL_STATES: JobStatus[] = [
  'succeeded',
  'failed',
  'cancelled',
  'timed out'
];

export namespace CommandIDs {
  export const open = 'containerize:open';
  export const build = 'containerize:build';
  export const run = 'containerize:run';
  export const serve = 'containerize:serve';
  export const teamImages = 'containerize:team-images';
  export const runPipeline = 'containerize:run-pipeline';
  export const runPipelineSwarm = 'containerize:run-pipeline-swarm';
}
