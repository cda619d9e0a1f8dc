/**
 * A few lines of DOM building, so pages read as the markup they make. Text is always set as text (never
 * innerHTML): whatever a tenant's data holds is shown, not run. Styles are set through CSSOM properties,
 * which the strict Content-Security-Policy allows (style attributes in markup it would not).
 */

export type Child = Node | string | number | null | undefined | false;

type Props = {
  class?: string;
  /** attributes set with setAttribute (aria-*, for, role, …) */
  attrs?: Record<string, string>;
  dataset?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  [property: string]: unknown;
};

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  const { class: className, attrs, dataset, on, ...properties } = props;
  if (className) el.className = className;
  for (const [name, value] of Object.entries(attrs ?? {})) el.setAttribute(name, value);
  for (const [name, value] of Object.entries(dataset ?? {})) el.dataset[name] = value;
  for (const [type, listener] of Object.entries(on ?? {}))
    el.addEventListener(type, listener as EventListener);
  Object.assign(el, properties);
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children (null and false are left out, as in h). */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A labelled form field: the label wraps the control, so a click on the text focuses it. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h(
    'label',
    { class: 'field' },
    h('span', { class: 'field-label' }, label),
    control,
    hint ? h('small', {}, hint) : null,
  );
}

export function input(name: string, props: Props = {}): HTMLInputElement {
  return h('input', { name, ...props });
}

export function select(
  name: string,
  options: readonly (string | [value: string, label: string])[],
  value?: string,
) {
  const el = h(
    'select',
    { name },
    options.map((o) => {
      const [v, label] = typeof o === 'string' ? [o, o] : o;
      return h('option', { value: v }, label);
    }),
  );
  if (value !== undefined) el.value = value;
  return el;
}

/** A form whose submit (Enter or its button) runs `onSubmit` instead of navigating. */
export function form(
  className: string,
  onSubmit: () => void,
  ...children: (Child | Child[])[]
): HTMLFormElement {
  const el = h('form', { class: className }, ...children);
  el.addEventListener('submit', (event) => {
    event.preventDefault();
    onSubmit();
  });
  return el;
}

export function button(
  label: string,
  onClick: (event: MouseEvent) => void,
  props: Props = {},
): HTMLButtonElement {
  return h('button', { type: 'button', ...props, on: { click: onClick } }, label);
}

/** A table from column headers and rows of cells. */
export function table(
  headers: readonly string[],
  rows: readonly Child[][],
  props: Props = {},
): HTMLTableElement {
  return h(
    'table',
    props,
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x) => h('th', { scope: 'col' }, x)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c) => h('td', {}, c)),
        ),
      ),
    ),
  );
}

/** The one row a table shows when it has nothing to show, spanning its columns. */
export function emptyRow(columns: number, text: string): HTMLTableRowElement {
  return h('tr', { class: 'empty-row' }, h('td', { class: 'empty', colSpan: columns }, text));
}
