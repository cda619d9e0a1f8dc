import * as tus from 'tus-js-client';
import { Notice, stat } from '../components.js';
import type { ConsoleContext, Page } from '../context.js';
import { button, fill, h, table } from '../dom.js';
import { ApiError, type ProblemDetails } from '../lib/api.js';
import { bytes, count, percent } from '../lib/format.js';
import {
  FINISHED_STATES,
  isTenantUpload,
  type UploadSummary,
  uploadFingerprint,
  uploadMetadata,
  uploadPath,
} from '../lib/uploads.js';

const ENDPOINT = '/api/v1/ingest/orders/uploads';
const CHUNK_BYTES = 4 * 1024 * 1024;

/** A tus error as the API's problem when the server sent one (tus-js-client keeps the response). */
function tusProblem(error: Error): unknown {
  const res = (error as tus.DetailedError).originalResponse;
  if (!res) return error;
  try {
    const body = JSON.parse(res.getBody()) as ProblemDetails;
    if (typeof body.title === 'string') return new ApiError(body);
  } catch {
    // not a problem body
  }
  return new ApiError({
    title: `Upload failed (${res.getStatus()})`,
    status: res.getStatus(),
    detail: error.message,
  });
}

/** Drop an NDJSON(.gz) file: it uploads through tus with progress, pause/resume, and survives a reload. */
export function ingestPage(ctx: ConsoleContext): Page {
  const notice = new Notice();
  const fileInput = h('input', {
    type: 'file',
    name: 'file',
    accept: '.ndjson,.jsonl,.gz,application/x-ndjson',
  });
  const drop = h(
    'label',
    { class: 'dropzone', dataset: { testid: 'dropzone' } },
    h('strong', {}, 'Drop an orders file here'),
    h('span', {}, 'NDJSON, or NDJSON compressed with gzip (.gz). Or click to choose one.'),
    fileInput,
  );
  const bar = h('progress', { max: 1, value: 0, dataset: { testid: 'upload-progress' } });
  const progressText = h('span', { class: 'meta', dataset: { testid: 'upload-progress-text' } });
  // pausing is tus-js-client's abort: the server keeps the bytes; Resume continues from its offset
  const pause = button(
    'Pause',
    () => {
      setRunning(false);
      void current?.abort();
    },
    { class: 'secondary', disabled: true },
  );
  const resume = button('Resume', () => startUpload(), { class: 'secondary', disabled: true });
  const summary = h('section', { class: 'card', dataset: { testid: 'upload-summary' } });
  const unfinished = h('section', { class: 'unfinished' });
  const el = h(
    'div',
    { class: 'page ingest' },
    h('h1', {}, 'Ingest'),
    drop,
    h('div', { class: 'upload-controls' }, bar, progressText, pause, resume),
    notice.el,
    summary,
    unfinished,
  );
  let current: tus.Upload | null = null;
  let disposed = false;
  let poll: ReturnType<typeof setTimeout> | undefined;

  for (const type of ['dragenter', 'dragover'] as const)
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void choose(file);
  });
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    if (file) void choose(file);
  });

  async function choose(file: File) {
    notice.clear();
    summary.replaceChildren();
    await current?.abort();
    const upload = new tus.Upload(file, {
      endpoint: ENDPOINT,
      headers: { authorization: `Bearer ${ctx.session.apiKey ?? ''}` },
      metadata: uploadMetadata(file.name),
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000],
      removeFingerprintOnSuccess: true,
      fingerprint: async () => uploadFingerprint(ctx.tenant.tenant_id, file),
      onProgress: (sent, total) => {
        bar.value = total ? sent / total : 0;
        progressText.textContent = `${bytes(sent)} of ${bytes(total)} (${percent(total ? sent / total : 0, 0)})`;
      },
      onError: (error) => {
        setRunning(false);
        notice.show(tusProblem(error));
      },
      onSuccess: () => {
        setRunning(false);
        pause.disabled = true;
        resume.disabled = true;
        if (upload.url) void follow(uploadPath(upload.url));
      },
    });
    current = upload;
    const previous = await upload.findPreviousUploads();
    const resumable = previous.find((p) => p.uploadUrl);
    if (resumable) {
      upload.resumeFromPreviousUpload(resumable);
      notice.info(
        `Resuming the upload of ${file.name} started ${new Date(resumable.creationTime).toLocaleString()}.`,
      );
    }
    startUpload();
  }

  function setRunning(running: boolean) {
    pause.disabled = !running;
    resume.disabled = running || !current;
  }

  function startUpload() {
    if (!current) return;
    setRunning(true);
    current.start();
  }

  /** The upload's summary until ingest is finished (rows are ingested as bytes arrive). */
  async function follow(path: string) {
    const s = await notice.run(() => ctx.api.json<UploadSummary>(path));
    if (!s || disposed) return;
    showSummary(s);
    if (!FINISHED_STATES.has(s.state)) poll = setTimeout(() => void follow(path), 500);
    else void listUnfinished();
  }

  function showSummary(s: UploadSummary) {
    fill(
      summary,
      h('h2', {}, `Upload ${s.state}`),
      h(
        'div',
        { class: 'stats' },
        stat('Received', count(s.rows_received), 'rows-received'),
        stat('Inserted', count(s.rows_inserted), 'rows-inserted'),
        stat('Duplicates', count(s.rows_duplicate), 'rows-duplicate'),
        stat('Failed', count(s.rows_failed), 'rows-failed'),
      ),
      s.errors.length
        ? table(
            ['Line', 'Order', 'Code', 'Field', 'Message'],
            s.errors
              .slice(0, 200)
              .map((e) => [e.line, e.order_id ?? '', e.code, e.field ?? '', e.message ?? '']),
            { class: 'data', dataset: { testid: 'row-errors' } },
          )
        : null,
      s.errors_truncated || s.errors.length > 200
        ? h('p', { class: 'meta' }, 'More row errors than shown.')
        : null,
    );
  }

  /** Uploads this browser started for the tenant and did not finish: choosing the same file resumes one. */
  async function listUnfinished() {
    const all = await tus.defaultOptions.urlStorage.findAllUploads();
    const mine = all.filter((u) => isTenantUpload(ctx.tenant.tenant_id, u.urlStorageKey) && u.uploadUrl);
    if (disposed) return;
    fill(
      unfinished,
      mine.length
        ? h(
            'div',
            { class: 'card' },
            h('h2', {}, 'Unfinished uploads in this browser'),
            h('p', { class: 'meta' }, 'Choose the same file again to resume it where it stopped.'),
            table(
              ['File', 'Size', 'Started', ''],
              mine.map((u) => [
                u.metadata.filename ?? '?',
                u.size === null ? '?' : bytes(u.size),
                new Date(u.creationTime).toLocaleString(),
                button(
                  'Forget',
                  () => void tus.defaultOptions.urlStorage.removeUpload(u.urlStorageKey).then(listUnfinished),
                  {
                    class: 'link',
                  },
                ),
              ]),
              { class: 'data' },
            ),
          )
        : null,
    );
  }

  void listUnfinished();
  return {
    el,
    dispose() {
      disposed = true;
      clearTimeout(poll);
      void current?.abort();
    },
  };
}
