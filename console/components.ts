import { h, input } from './dom.js';
import { ApiError, networkProblem, type ProblemDetails } from './lib/api.js';

/** The problem an error stands for: the API's own, or one made for a network or code failure. */
export function problemFrom(error: unknown): ProblemDetails {
  if (error instanceof ApiError) return error.problem;
  if (error instanceof RangeError)
    return { title: 'Check the form', status: 0, detail: error.message, code: 'invalid_input' };
  return networkProblem(error);
}

/**
 * An API error as a user reads it: the problem's title and detail, each bad field, and the request id with
 * a button that copies it (what support asks for first).
 */
export function problemBox(error: unknown): HTMLElement {
  const p = problemFrom(error);
  const copy = h('button', { type: 'button', class: 'link' }, 'copy');
  copy.addEventListener('click', () => {
    void navigator.clipboard?.writeText(p.request_id ?? '').then(() => {
      copy.textContent = 'copied';
    });
  });
  return h(
    'div',
    { class: 'problem', attrs: { role: 'alert' } },
    h('strong', { class: 'problem-title' }, p.title),
    p.status ? h('span', { class: 'problem-status' }, ` (${p.status}${p.code ? ` ${p.code}` : ''})`) : null,
    p.detail ? h('p', { class: 'problem-detail' }, p.detail) : null,
    p.errors?.length
      ? h(
          'ul',
          { class: 'problem-fields' },
          p.errors.map((e) => h('li', {}, [e.field, e.message ?? e.code].filter(Boolean).join(': '))),
        )
      : null,
    p.request_id
      ? h(
          'p',
          { class: 'problem-request' },
          'Request id ',
          h('code', { class: 'request-id' }, p.request_id),
          ' ',
          copy,
        )
      : null,
  );
}

/** A place on a page for the outcome of its last action: an error, or nothing. */
export class Notice {
  readonly el = h('div', { class: 'notice', attrs: { 'aria-live': 'polite' } });

  show(error: unknown): void {
    this.el.replaceChildren(problemBox(error));
  }

  info(text: string): void {
    this.el.replaceChildren(h('p', { class: 'info' }, text));
  }

  clear(): void {
    this.el.replaceChildren();
  }

  /** Runs an action, showing its error if it fails; resolves with its value or undefined. */
  async run<T>(action: () => Promise<T>): Promise<T | undefined> {
    try {
      const value = await action();
      this.clear();
      return value;
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') return undefined;
      this.show(error);
      return undefined;
    }
  }
}

export function stat(label: string, value: string, testId?: string): HTMLElement {
  return h(
    'div',
    { class: 'stat', ...(testId ? { dataset: { testid: testId } } : {}) },
    h('span', { class: 'stat-label' }, label),
    h('span', { class: 'stat-value' }, value),
  );
}

/** A set of checkboxes under a legend (statuses, columns): what is ticked is what a filter or a projection asks. */
export class CheckboxGroup<T extends string> {
  readonly el: HTMLFieldSetElement;
  private readonly boxes: HTMLInputElement[];

  constructor(name: string, legend: string, values: readonly T[], checked: readonly T[] = []) {
    this.boxes = values.map((value) =>
      input(name, { type: 'checkbox', value, checked: checked.includes(value) }),
    );
    this.el = h(
      'fieldset',
      { class: 'checks' },
      h('legend', {}, legend),
      this.boxes.map((b) => h('label', {}, b, b.value)),
    );
  }

  selected(): T[] {
    return this.boxes.filter((b) => b.checked).map((b) => b.value as T);
  }
}
