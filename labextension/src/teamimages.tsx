/**
 * The Team images tab: search the team registry's catalog (GET images?q=), see what an image
 * holds, pull it (a job with progress) and open a kernel that runs inside it.
 */
import { Button, InputGroup } from '@jupyterlab/ui-components';
import * as React from 'react';

import { JobView, Section } from './components';
import { requestAPI } from './request';
import { ICatalog, IErrorInfo, IImageKernel, ITeamImage } from './tokens';
import { useFollow } from './usefollow';

export type KernelTarget = 'console' | 'notebook';
export type OpenKernel = (name: string, target: KernelTarget) => Promise<void>;

const SEARCH_DELAY = 300; // ms between the last keystroke and the request

export function formatSize(bytes: number): string {
  if (!bytes) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

function formatDate(iso: string): string {
  const date = new Date(iso);
  return iso && !isNaN(date.getTime()) ? date.toLocaleString() : iso;
}

function basename(path: string): string {
  return path.split('/').pop() ?? path;
}

/** The catalog for a search string, reloaded as the user types (debounced). */
function useCatalog(query: string): {
  catalog: ICatalog | null;
  error: IErrorInfo | null;
  loading: boolean;
  reload: () => void;
} {
  const [catalog, setCatalog] = React.useState<ICatalog | null>(null);
  const [error, setError] = React.useState<IErrorInfo | null>(null);
  const [loading, setLoading] = React.useState(false);
  const [generation, setGeneration] = React.useState(0);

  React.useEffect(() => {
    let stale = false;
    const timer = window.setTimeout(async () => {
      setLoading(true);
      try {
        const found = await requestAPI<ICatalog>(`images?q=${encodeURIComponent(query)}`);
        if (!stale) {
          setCatalog(found);
          setError(null);
        }
      } catch (reason) {
        if (!stale) {
          setError(reason as IErrorInfo);
        }
      } finally {
        if (!stale) {
          setLoading(false);
        }
      }
    }, SEARCH_DELAY);
    return () => {
      stale = true;
      window.clearTimeout(timer);
    };
  }, [query, generation]);

  return { catalog, error, loading, reload: () => setGeneration(g => g + 1) };
}

function ImageSummary(props: { image: ITeamImage }): JSX.Element {
  const { image } = props;
  const facts = [
    image.author,
    image.notebook && basename(image.notebook),
    image.python && `Python ${image.python}`,
    formatDate(image.created),
    formatSize(image.size)
  ].filter(Boolean);
  return (
    <>
      <div className="jp-Containerize-image-ref" data-field="image-reference">
        {image.reference}
      </div>
      <div className="jp-Containerize-muted">{facts.join(' · ')}</div>
      {image.packages.length > 0 && (
        <div className="jp-Containerize-image-packages" data-field="image-packages">
          {image.packages.slice(0, 6).join(', ')}
          {image.packages.length > 6 ? ` +${image.packages.length - 6}` : ''}
        </div>
      )}
    </>
  );
}

/** Who signed the image and whether an SBOM is attached (read from the registry). */
type ISignedImage = ITeamImage & { signers?: string[]; sbom?: boolean };

function ImageDetails(props: { image: ITeamImage }): JSX.Element {
  const { image } = props;
  const signed = image as ISignedImage;
  const model = Object.entries(image.model ?? {});
  return (
    <dl className="jp-Containerize-image-details" data-field="image-details">
      <dt>Pinned</dt>
      <dd data-field="image-pinned">{image.pinned || image.digest}</dd>
      <dt>Author</dt>
      <dd>{image.author || '—'}</dd>
      <dt>Notebook</dt>
      <dd>{image.notebook || '—'}</dd>
      <dt>Python</dt>
      <dd>{image.python || '—'}</dd>
      <dt>Imports</dt>
      <dd>{image.packages.join(', ') || '—'}</dd>
      {model.length > 0 && (
        <>
          <dt>Model</dt>
          <dd>{model.map(([k, v]) => `${k}: ${v}`).join(', ')}</dd>
        </>
      )}
      <dt>Created</dt>
      <dd>{formatDate(image.created)}</dd>
      <dt>Size</dt>
      <dd>{formatSize(image.size) || '—'}</dd>
      <dt>Signed by</dt>
      <dd data-field="image-signers">
        {(signed.signers ?? []).map(k => k.slice(0, 16)).join(', ') || 'unsigned'}
      </dd>
      <dt>SBOM</dt>
      <dd data-field="image-sbom">{signed.sbom ? 'attached' : '—'}</dd>
    </dl>
  );
}

function ImageItem(props: {
  image: ITeamImage;
  current: boolean;
  opening: boolean;
  onToggle: () => void;
  onPull: () => void;
  onOpen: (target: KernelTarget) => void;
}): JSX.Element {
  const { image, current, opening } = props;
  return (
    <li data-reference={image.reference} className={current ? 'jp-mod-selected' : ''}>
      <div
        className="jp-Containerize-image-head"
        role="button"
        tabIndex={0}
        title="Show the details"
        onClick={props.onToggle}
      >
        <ImageSummary image={image} />
      </div>
      {current && (
        <>
          <ImageDetails image={image} />
          <div className="jp-Containerize-row">
            <Button small onClick={props.onPull} title="Pull this image into the engine">
              Pull
            </Button>
            <Button
              small
              disabled={opening}
              onClick={() => props.onOpen('console')}
              title="Install a kernel that runs in this image and open a console"
            >
              Open a kernel
            </Button>
            <Button
              small
              minimal
              disabled={opening}
              onClick={() => props.onOpen('notebook')}
              title="Install a kernel that runs in this image and open a new notebook"
            >
              New notebook
            </Button>
          </div>
          {opening && (
            <p className="jp-Containerize-muted" data-field="kernel-status">
              Installing the kernel (pulling the image if needed)…
            </p>
          )}
        </>
      )}
    </li>
  );
}

export function TeamImages(props: {
  openKernel: OpenKernel;
  onError: (error: unknown) => void;
}): JSX.Element {
  const [query, setQuery] = React.useState('');
  const [selected, setSelected] = React.useState<string | null>(null);
  const [opening, setOpening] = React.useState(false);
  const { catalog, error, loading, reload } = useCatalog(query);
  const pull = useFollow(props.onError);

  const open = async (image: ITeamImage, target: KernelTarget) => {
    setOpening(true);
    try {
      const body = { ref: image.pinned || image.reference };
      const kernel = await requestAPI<IImageKernel>('kernels', { method: 'POST', body });
      await props.openKernel(kernel.name, target);
    } catch (reason) {
      props.onError(reason);
    } finally {
      setOpening(false);
    }
  };
  const images = catalog?.images ?? [];
  return (
    <div className="jp-Containerize-body jp-Containerize-team">
      <Section title="Team images">
        {catalog && (
          <p className="jp-Containerize-muted" data-field="registry">
            {catalog.registry
              ? `Registry ${catalog.registry}`
              : 'No team registry configured (ContainerizeConfig.registry): images of this engine'}
          </p>
        )}
        <div className="jp-Containerize-row">
          <InputGroup
            type="search"
            aria-label="Search team images"
            placeholder="Search by name, author, notebook, package"
            value={query}
            rightIcon="ui-components:search"
            onChange={e => setQuery((e.target as HTMLInputElement).value)}
          />
          <Button small minimal onClick={reload} disabled={loading} title="Read the registry again">
            Refresh
          </Button>
        </div>
        {error && (
          <p className="jp-Containerize-error" data-field="images-error">
            {error.message}
            {error.hint ? ` — ${error.hint}` : ''}
          </p>
        )}
        {loading && !catalog && <p className="jp-Containerize-muted">Reading the registry…</p>}
        {catalog && (
          <p className="jp-Containerize-muted" data-field="images-count">
            {images.length} of {catalog.total} image{catalog.total === 1 ? '' : 's'}
          </p>
        )}
        <ul className="jp-Containerize-images" aria-label="Team images list">
          {images.map(image => (
            <ImageItem
              key={image.reference}
              image={image}
              current={image.reference === selected}
              opening={opening}
              onToggle={() => setSelected(image.reference === selected ? null : image.reference)}
              onPull={() =>
                void pull.start({
                  kind: 'pull',
                  options: { ref: image.pinned || image.reference }
                })
              }
              onOpen={target => void open(image, target)}
            />
          ))}
        </ul>
      </Section>
      {pull.job && <JobView job={pull.job} logs={pull.logs} onCancel={pull.cancel} />}
    </div>
  );
}
