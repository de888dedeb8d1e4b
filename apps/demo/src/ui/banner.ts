import type { ErrorInfo } from '../protocol';
import { el, query } from './dom';

/**
 * The page-wide message for errors that are not about one model: a backend that would not start, a
 * lost GPU device, a crashed worker. It offers the recovery action when there is one.
 */
export class Banner {
  readonly #root = query('#banner');

  show(error: ErrorInfo, action?: { label: string; run: () => void }): void {
    const close = el(
      'button',
      { type: 'button', class: 'secondary small', 'aria-label': 'Dismiss' },
      'Dismiss',
    );
    close.addEventListener('click', () => this.hide());
    const buttons = el('div', { class: 'buttons' });
    if (action) {
      const b = el('button', { type: 'button', class: 'small' }, action.label);
      b.addEventListener('click', () => {
        this.hide();
        action.run();
      });
      buttons.append(b);
    }
    buttons.append(close);
    this.#root.dataset.kind = error.kind;
    this.#root.replaceChildren(
      el(
        'div',
        {},
        el('strong', {}, error.title),
        el('p', {}, error.message),
        error.hint ? el('p', { class: 'hint' }, error.hint) : null,
      ),
      buttons,
    );
    this.#root.hidden = false;
  }

  hide(): void {
    this.#root.hidden = true;
    this.#root.replaceChildren();
  }
}
