import type { ErrorInfo, GenerateSummary, Slot, WorkerEvent } from '../protocol';
import { backendLabel } from './backend-picker';
import { el, formatMs, query } from './dom';
import { errorBox } from './model-card';

const TITLES: Record<Slot, string> = { compressed: 'Compressed (DBF)', reference: 'Original (fp32)' };

/**
 * One column of generated text with live statistics. The generated ids are mirrored in `data-ids` and
 * the run's state in `data-state`, so tests (and curious users) can read exactly what was produced.
 */
export class OutputPanel {
  readonly #root: HTMLElement;
  readonly #text: HTMLElement;
  readonly #generated: HTMLElement;
  readonly #stats: HTMLElement;
  readonly #ids: number[] = [];

  constructor(readonly slot: Slot) {
    this.#root = query(`.output[data-slot="${slot}"]`);
    this.#generated = el('span', { class: 'generated' });
    this.#text = el('p', { class: 'text' }, el('span', { class: 'muted' }, 'Nothing generated yet.'));
    this.#stats = el('div', { class: 'stats' });
    this.#root.replaceChildren(el('h3', {}, TITLES[slot]), this.#text, this.#stats);
  }

  start(prompt: string): void {
    this.#ids.length = 0;
    this.#root.dataset.state = 'running';
    this.#root.dataset.ids = '';
    this.#generated.textContent = '';
    this.#text.replaceChildren(
      el('span', { class: 'prompt' }, prompt),
      this.#generated,
      el('span', { class: 'cursor' }),
    );
    this.#showStats('waiting for the first token…');
  }

  /** Waiting behind the other model (both share one worker, so they run one after the other). */
  queued(prompt: string): void {
    this.start(prompt);
    this.#root.dataset.state = 'queued';
    this.#showStats('queued after the compressed model');
  }

  skipped(): void {
    this.#root.dataset.state = 'idle';
    this.#text.replaceChildren(
      el('span', { class: 'muted' }, 'Not run (tick “also run the fp32 original”).'),
    );
    this.#stats.replaceChildren();
  }

  token(event: Extract<WorkerEvent, { type: 'token' }>): void {
    this.#root.dataset.state = 'running';
    this.#ids.push(event.id);
    this.#root.dataset.ids = this.#ids.join(',');
    this.#generated.append(event.text);
    this.#stats.replaceChildren(
      stat('time to first token', formatMs(event.timeToFirstTokenMs)),
      stat('tokens/s', event.count > 1 ? event.tokensPerSecond.toFixed(1) : '…'),
      stat('tokens', String(event.count)),
    );
  }

  done(summary: GenerateSummary): void {
    this.#root.dataset.state = 'done';
    this.#root.dataset.ids = summary.ids.join(',');
    this.#generated.textContent = summary.text;
    this.#text.querySelector('.cursor')?.remove();
    const stop = {
      eos: 'stopped at the end of text',
      length: 'stopped at the token limit',
      context: 'stopped: the context is full',
      aborted: 'stopped by you',
    }[summary.stopReason];
    this.#stats.replaceChildren(
      stat('time to first token', formatMs(summary.timeToFirstTokenMs)),
      stat('tokens/s', summary.decodeTokensPerSecond.toFixed(1)),
      stat('tokens', String(summary.ids.length)),
      stat('total', formatMs(summary.totalMs)),
      el(
        'span',
        { class: 'run-meta' },
        `${summary.promptTokens} prompt tokens · ${backendLabel(summary.backend)} · ${stop}`,
      ),
    );
  }

  failed(error: ErrorInfo): void {
    this.#root.dataset.state = 'error';
    this.#text.querySelector('.cursor')?.remove();
    this.#stats.replaceChildren(errorBox(error));
  }

  #showStats(text: string): void {
    this.#stats.replaceChildren(el('span', { class: 'muted' }, text));
  }
}

function stat(name: string, value: string): HTMLElement {
  return el(
    'span',
    { class: 'stat' },
    el('span', { class: 'stat-value' }, value),
    el('span', { class: 'stat-name' }, name),
  );
}
