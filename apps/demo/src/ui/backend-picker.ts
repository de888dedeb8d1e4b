import type { ActiveBackend, BackendChoice, BackendId, Environment } from '../protocol';
import { el, query } from './dom';

const LABELS: Record<BackendChoice, string> = {
  auto: 'auto',
  webgpu: 'WebGPU',
  wasm: 'WASM SIMD',
  cpu: 'JS',
};

const BLURBS: Record<BackendChoice, string> = {
  auto: 'the fastest that works here',
  webgpu: 'WGSL sign GEMV on the GPU',
  wasm: 'SIMD sign kernels, threads when isolated',
  cpu: 'plain JavaScript, runs everywhere',
};

/**
 * The backend switch: one radio per backend plus `auto`. A backend this browser cannot run is disabled
 * and shows the reason, so the user knows why (no adapter, no SIMD...) instead of guessing.
 */
export class BackendPicker {
  readonly #root = query('#backend-picker');
  readonly #status = query('#active-backend');
  #onChange: (choice: BackendChoice) => void = () => undefined;

  render(env: Environment, onChange: (choice: BackendChoice) => void): void {
    this.#onChange = onChange;
    const options: { id: BackendChoice; available: boolean; note?: string }[] = [
      { id: 'auto', available: env.backends.some((b) => b.available) },
      ...env.backends,
    ];
    this.#root.replaceChildren(
      ...options.map((option) => {
        const input = el('input', {
          type: 'radio',
          name: 'backend',
          value: option.id,
          id: `backend-${option.id}`,
          disabled: !option.available,
        });
        input.addEventListener('change', () => {
          if (input.checked) this.#onChange(option.id);
        });
        const note = option.note ?? (option.available ? BLURBS[option.id] : 'unavailable');
        return el(
          'label',
          {
            class: `backend-option${option.available ? '' : ' unavailable'}`,
            for: `backend-${option.id}`,
            title: option.note,
            'data-backend': option.id,
          },
          input,
          el('span', { class: 'backend-name' }, LABELS[option.id]),
          el('span', { class: 'backend-note' }, note),
        );
      }),
    );
  }

  /** Checks `choice` without firing a change (used when the page itself selects). */
  select(choice: BackendChoice): void {
    const input = this.#root.querySelector<HTMLInputElement>(`input[value="${choice}"]`);
    if (input) input.checked = true;
  }

  setEnabled(enabled: boolean): void {
    this.#root.classList.toggle('busy', !enabled);
    for (const input of this.#root.querySelectorAll<HTMLInputElement>('input')) {
      const unavailable = input.closest('.unavailable') !== null;
      input.disabled = unavailable || !enabled;
    }
  }

  switching(choice: BackendChoice): void {
    this.#status.dataset.state = 'switching';
    delete this.#status.dataset.id;
    this.#status.textContent = `Starting ${LABELS[choice]}…`;
  }

  active(backend: ActiveBackend): void {
    this.#status.dataset.state = 'ready';
    this.#status.dataset.id = backend.id;
    const picked = backend.choice === 'auto' ? `auto chose ${LABELS[backend.id]}` : LABELS[backend.id];
    this.#status.replaceChildren(
      el('strong', {}, picked),
      el('span', { class: 'muted' }, ` · ${backend.description}`),
    );
  }

  failed(choice: BackendChoice): void {
    this.#status.dataset.state = 'error';
    delete this.#status.dataset.id;
    this.#status.textContent = `${LABELS[choice]} could not start (see the message above). Pick another backend.`;
  }
}

export const backendLabel = (id: BackendId): string => LABELS[id];
