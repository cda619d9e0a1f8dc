/** The values of an Accept-style header, in order, lowercased, without those refused with q=0. */
export function accepted(header: string | undefined): string[] {
  return (header ?? '').split(',').flatMap((part) => {
    const [value, ...params] = part.trim().toLowerCase().split(';');
    return params.some((p) => /^\s*q=0(\.0*)?\s*$/.test(p)) ? [] : [value!.trim()];
  });
}
