/** Renders the OpenAPI document as a self-contained HTML reference (no scripts, no CDN). */
export function renderDocsPage(doc: Record<string, unknown>): string {
  const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const sections: string[] = [];
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params =
        (op.parameters as { name: string; in: string; required: boolean; description?: string }[]) ?? [];
      const responses = Object.entries(op.responses as Record<string, { description: string }>);
      const codes = (op['x-problem-codes'] as string[]) ?? [];
      sections.push(`<section id="${esc(op.operationId)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p>${esc(op.summary)}</p>${op.description ? `<p>${esc(op.description)}</p>` : ''}
${
  params.length
    ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>notes</th></tr>${params
        .map(
          (p) =>
            `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : ''}</td><td>${esc(p.description)}</td></tr>`,
        )
        .join('')}</table>`
    : ''
}
<ul>${responses.map(([s, r]) => `<li><b>${esc(s)}</b> ${esc(r.description)}</li>`).join('')}</ul>
${codes.length ? `<p class="codes">Problem codes: ${codes.map((c) => `<code>${esc(c)}</code>`).join(' ')}</p>` : ''}
</section>`);
    }
  }
  const info = doc.info as { title: string; description: string };
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(info.title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}section{border-top:1px solid #ddd;padding:.5em 0}
.m{display:inline-block;min-width:4.5em;font-size:.8em;padding:.1em .4em;border-radius:3px;color:#fff;background:#555}
.get{background:#2a7}.post{background:#27c}.put{background:#c82}.patch{background:#a5c}.delete{background:#c33}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}.codes{color:#555}</style>
</head><body><h1>${esc(info.title)}</h1><p>${esc(info.description)}</p>
<p>Authentication: <code>Authorization: Bearer &lt;api_key&gt;</code>. Errors are <code>application/problem+json</code> with a stable <code>code</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
${sections.join('\n')}</body></html>`;
}
