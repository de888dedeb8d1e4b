import type { ErrorInfo, ModelFacts, ModelSource, Slot, WorkerEvent } from '../protocol';
import { el, formatBytes, formatCount, query } from './dom';

const TITLES: Record<Slot, { title: string; blurb: string }> = {
  compressed: {
    title: 'Compressed (DBF)',
    blurb: 'bundled: sotu-3m compressed at build time with dbf compress',
  },
  reference: { title: 'Original (fp32)', blurb: 'bundled: sotu-3m as trained (F16 file, computed in fp32)' },
};

/**
 * One model slot: where the model comes from (bundled, a picked folder or picked files), load progress,
 * the model's facts, and a load error in place of the facts when loading fails.
 */
export class ModelCard {
  readonly #root: HTMLElement;
  readonly #source: HTMLElement;
  readonly #body: HTMLElement;
  readonly #progress: HTMLProgressElement;
  readonly #buttons: HTMLButtonElement[];

  constructor(
    readonly slot: Slot,
    bundled: ModelSource,
    onPick: (source: ModelSource) => void,
  ) {
    this.#root = query(`.model-card[data-slot="${slot}"]`);
    const folder = el('input', { type: 'file', id: `pick-folder-${slot}`, hidden: true, multiple: true });
    folder.webkitdirectory = true;
    const files = el('input', { type: 'file', id: `pick-files-${slot}`, hidden: true, multiple: true });
    const fromInput = (input: HTMLInputElement) => () => {
      const list = [...(input.files ?? [])];
      input.value = '';
      if (list.length === 0) return;
      const top = list[0]!.webkitRelativePath.split('/')[0];
      const label =
        input === folder && top
          ? `picked folder ${top}`
          : `picked files: ${list.map((f) => f.name).join(', ')}`;
      onPick({ kind: 'files', files: list, label });
    };
    folder.addEventListener('change', fromInput(folder));
    files.addEventListener('change', fromInput(files));
    const button = (text: string, action: () => void, title: string) => {
      const b = el('button', { type: 'button', class: 'secondary small', title }, text);
      b.addEventListener('click', action);
      return b;
    };
    this.#buttons = [
      button('Bundled', () => onPick(bundled), 'the model served with this page'),
      button(
        'Pick folder…',
        () => folder.click(),
        'a model folder: config.json, model.safetensors, tokenizer.model',
      ),
      button(
        'Pick files…',
        () => files.click(),
        'select config.json, model.safetensors and tokenizer.model together',
      ),
    ];
    this.#source = el('p', { class: 'source muted' }, TITLES[slot].blurb);
    this.#progress = el('progress', { max: 1, value: 0, hidden: true });
    this.#body = el('div', { class: 'facts-body' });
    this.#root.replaceChildren(
      el(
        'header',
        { class: 'card-header' },
        el('h3', {}, TITLES[slot].title),
        el('div', { class: 'buttons' }, ...this.#buttons, folder, files),
      ),
      this.#source,
      this.#progress,
      this.#body,
    );
  }

  setEnabled(enabled: boolean): void {
    for (const b of this.#buttons) b.disabled = !enabled;
  }

  loading(label: string): void {
    this.#root.dataset.state = 'loading';
    this.#source.textContent = label;
    this.#progress.hidden = false;
    this.#progress.removeAttribute('value');
    this.#body.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  }

  progress(event: Extract<WorkerEvent, { type: 'progress' }>): void {
    if (this.#root.dataset.state !== 'loading' && event.stage !== 'upload') return;
    this.#progress.hidden = false;
    if (event.stage === 'download' && event.total > 0) {
      this.#progress.value = event.loaded / event.total;
      this.#body.replaceChildren(
        el(
          'p',
          { class: 'muted' },
          `Downloading ${formatBytes(event.loaded)} of ${formatBytes(event.total)}…`,
        ),
      );
    } else {
      this.#progress.removeAttribute('value');
      if (event.stage === 'upload' && event.loaded === event.total) this.#progress.hidden = true;
    }
  }

  ready(facts: ModelFacts): void {
    this.#root.dataset.state = 'ready';
    this.#progress.hidden = true;
    this.#body.replaceChildren(factsTable(facts), sizeBar(facts));
  }

  failed(error: ErrorInfo): void {
    this.#root.dataset.state = 'error';
    this.#progress.hidden = true;
    this.#body.replaceChildren(errorBox(error));
  }
}

function factsTable(f: ModelFacts): HTMLElement {
  const rows: [string, string][] = [
    ['Architecture', `llama · ${f.layers} layers · dim ${f.dim} · MLP ${f.hiddenDim} · ${f.heads} heads`],
    ['Vocabulary · context', `${f.vocabSize} tokens · ${f.contextLength} positions`],
    ['Parameters', formatCount(f.parameters)],
  ];
  if (f.compressedLinears > 0) {
    const k = f.rank
      ? f.rank.min === f.rank.max
        ? `k = ${f.rank.min}`
        : `k = ${f.rank.min}–${f.rank.max}`
      : '';
    const l = f.envelopeRank && f.envelopeRank > 1 ? `, l = ${f.envelopeRank}` : '';
    rows.push(['Compressed linears', `${f.compressedLinears} of ${f.totalLinears} · ${f.method} · ${k}${l}`]);
    rows.push([
      'Bits per weight',
      `${f.compressedBitsPerWeight!.toFixed(2)} in compressed linears · ${f.overallBitsPerWeight.toFixed(2)} overall`,
    ]);
  } else {
    rows.push(['Linears', `${f.totalLinears} dense`]);
    rows.push(['Bits per weight', `${f.overallBitsPerWeight.toFixed(1)} (${f.plainDtypes.join(', ')} file)`]);
  }
  rows.push(['Size', `${formatBytes(f.fileBytes)} on disk · ${formatBytes(f.fp32Bytes)} as fp32`]);
  return el(
    'dl',
    { class: 'facts' },
    ...rows.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]),
  );
}

/** How much of the fp32 size the file takes, as a bar: the point of the whole exercise. */
function sizeBar(f: ModelFacts): HTMLElement {
  const ratio = f.fp32Bytes > 0 ? f.fileBytes / f.fp32Bytes : 1;
  const fill = el('span', { class: 'size-fill' });
  fill.style.width = `${Math.min(100, ratio * 100).toFixed(1)}%`;
  return el(
    'div',
    { class: 'size-bar', title: 'file size against the same parameters stored as fp32' },
    el('span', { class: 'size-track' }, fill),
    el(
      'span',
      { class: 'size-label' },
      `${(100 * ratio).toFixed(0)}% of fp32 (${(1 / ratio).toFixed(1)}× smaller)`,
    ),
  );
}

export function errorBox(error: ErrorInfo): HTMLElement {
  return el(
    'div',
    { class: 'error', role: 'alert', 'data-kind': error.kind },
    el('strong', {}, error.title),
    el('p', {}, error.message),
    error.hint ? el('p', { class: 'hint' }, error.hint) : null,
  );
}
