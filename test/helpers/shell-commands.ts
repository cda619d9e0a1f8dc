import { spawn } from 'node:child_process';

/** One printed command as bash ran it: its exit status and the HTTP status of every curl it made. */
export interface CommandRun {
  command: string;
  exit: number;
  httpStatuses: number[];
  output: string;
}

const BEGIN = '@@command-begin';
const END = '@@command-end';
const HTTP = '@@http';

/**
 * Splits a shell snippet as a reader pastes it into commands: comments and blank lines dropped, a line
 * ending in `\` or `|` continued on the next.
 */
export function splitCommands(snippet: string): string[] {
  const commands: string[] = [];
  let current = '';
  for (const line of snippet.split('\n')) {
    if (!current && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    current += (current ? '\n' : '') + line;
    if (!/[\\|]\s*$/.test(line)) {
      commands.push(current);
      current = '';
    }
  }
  if (current) commands.push(current);
  return commands;
}

/**
 * Runs the commands in order in one bash session (so `export` carries over), from `cwd`. curl is
 * wrapped to report each response's status on stderr, so a 4xx answered with exit status 0 is seen.
 */
export function runCommands(commands: string[], cwd: string, timeoutMs = 120_000): Promise<CommandRun[]> {
  const script = [
    'exec 1>&2', // one ordered stream: bodies, statuses and markers
    // the body goes to a file first, so a curl piped into `head` finishes (and reports its status) however
    // early the reader stops; the file is then written where the body would have gone
    `curl() { local f rc; f=$(mktemp); command curl -w '%{stderr}${HTTP} %{http_code}\\n' -o "$f" "$@"; rc=$?; cat "$f"; rm -f "$f"; return $rc; }`,
    // markers on lines of their own, whether or not the output before them ended its line
    ...commands.flatMap((c, i) => [
      `printf '\\n%s\\n' '${BEGIN} ${i}'`,
      c,
      `printf '\\n%s %s\\n' '${END} ${i}' "$?"`,
    ]),
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(parseRuns(commands, stderr));
    });
  });
}

function parseRuns(commands: string[], stderr: string): CommandRun[] {
  const runs: CommandRun[] = [];
  let current: CommandRun | null = null;
  for (const line of stderr.split('\n')) {
    const [marker, index, status] = line.trim().split(' ');
    if (marker === BEGIN) {
      current = { command: commands[Number(index)]!, exit: -1, httpStatuses: [], output: '' };
      runs.push(current);
    } else if (marker === END && current) {
      current.exit = Number(status);
      current = null;
    } else if (line.includes(HTTP)) {
      // curl's write-out may follow a body without a trailing newline
      current?.httpStatuses.push(Number(line.slice(line.indexOf(HTTP) + HTTP.length)));
    } else if (current) current.output += `${line}\n`;
  }
  // killed at the time limit: the commands never reached count as failed
  for (const command of commands.slice(runs.length))
    runs.push({ command, exit: -1, httpStatuses: [], output: '' });
  return runs;
}

/** Why a run failed, or null: a non-zero exit (curl's --max-time ending a stream is fine), a curl that
 * reported nothing, or an HTTP status of 400 or more. */
export function failureOf(run: CommandRun): string | null {
  const timedOutStream = run.exit === 28 && /--max-time/.test(run.command);
  if (run.exit !== 0 && !timedOutStream) return `exit ${run.exit}: ${run.output.slice(-500)}`;
  if (/(^|[\s(|])curl /.test(run.command) && run.httpStatuses.length === 0) return 'no HTTP response';
  const bad = run.httpStatuses.filter((s) => s < 200 || s >= 400);
  return bad.length > 0 ? `HTTP ${bad.join(', ')}: ${run.output.slice(-500)}` : null;
}
