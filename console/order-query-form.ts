import { CheckboxGroup } from './components.js';
import { type Child, field, form, h, input } from './dom.js';
import {
  DEFAULT_FIELDS,
  ORDER_STATUSES,
  type OrderField,
  SEARCH_FIELDS,
  type SearchFilters,
} from './lib/search.js';

/**
 * Every search filter and the column choice, as the orders page and the exports page both ask them (an
 * export takes the search's filters and fields). `leading` controls go first in the toolbar (an export's
 * format, say).
 */
export class OrderQueryForm {
  readonly el: HTMLFormElement;
  private readonly inputs = {
    q: input('q', { type: 'search', placeholder: 'name or email, prefix words' }),
    from: input('from', { type: 'date' }),
    to: input('to', { type: 'date' }),
    customerEmail: input('customer_email', { type: 'email', placeholder: 'exact email' }),
    productIds: input('product_id', { placeholder: '17, 42' }),
    minTotal: input('min_total', { inputMode: 'decimal', placeholder: '0.00' }),
    maxTotal: input('max_total', { inputMode: 'decimal', placeholder: '0.00' }),
  };
  private readonly statuses = new CheckboxGroup('status', 'Status', ORDER_STATUSES);
  private readonly columns = new CheckboxGroup('fields', 'Columns', SEARCH_FIELDS, DEFAULT_FIELDS);

  constructor(submitLabel: string, onSubmit: () => void, leading: Child[] = []) {
    const i = this.inputs;
    this.el = form(
      'filters',
      onSubmit,
      h(
        'div',
        { class: 'toolbar' },
        ...leading,
        field('Text', i.q),
        field('From', i.from),
        field('To (included)', i.to),
        field('Customer email', i.customerEmail),
        field('Products', i.productIds),
        field('Min total', i.minTotal),
        field('Max total', i.maxTotal),
      ),
      this.statuses.el,
      this.columns.el,
      h('button', { type: 'submit' }, submitLabel),
    );
  }

  filters(): SearchFilters {
    const i = this.inputs;
    return {
      q: i.q.value,
      from: i.from.value,
      to: i.to.value,
      customerEmail: i.customerEmail.value,
      productIds: i.productIds.value,
      minTotal: i.minTotal.value,
      maxTotal: i.maxTotal.value,
      statuses: this.statuses.selected(),
    };
  }

  /** The columns ticked, or the default ones when none is. */
  fields(): OrderField[] {
    const chosen = this.columns.selected();
    return chosen.length ? chosen : [...DEFAULT_FIELDS];
  }
}
