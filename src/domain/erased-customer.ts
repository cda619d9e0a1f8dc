/**
 * What an erased customer's row holds instead of their identity (GDPR erasure, both backends): tokens made
 * of the row's own key, so the orders keep pointing at a customer that no longer says who it was.
 */
export function erasedTokens(customerPk: number): { customerId: string; name: string; email: string } {
  return { customerId: `erased:${customerPk}`, name: '[erased]', email: `erased-${customerPk}@invalid` };
}
