import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Drives Firefox through Marionette, the remote protocol built into Firefox that geckodriver speaks to it
 * (Debian packages Firefox ESR but no geckodriver, and Playwright's BiDi channel needs commands ESR lacks).
 * Messages are `length:json`; a command is `[0, id, name, params]`, its answer `[1, id, error, result]`.
 * Only the WebDriver commands the console's Firefox test needs.
 */

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** Preferences of the throwaway profile: a port of its own, and nothing reaching for the network. */
const PREFS: Record<string, string | number | boolean> = {
  'marionette.port': 0,
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'app.update.disabledForTesting': true,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.safebrowsing.update.enabled': false,
  'extensions.update.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/',
};

export class Firefox {
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private greeted: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly socket: Socket,
    private readonly profile: string,
  ) {
    let greet: () => void;
    this.greeted = new Promise((r) => {
      greet = r;
    });
    // Firefox gone (a crash, a kill): every command waiting fails now instead of at the test's timeout
    socket.on('close', () => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error('Firefox closed the Marionette connection'));
      this.pending.clear();
    });
    socket.on('data', (data) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      for (;;) {
        const colon = this.buffer.indexOf(':');
        if (colon === -1) return;
        const length = Number(this.buffer.subarray(0, colon).toString());
        if (this.buffer.length < colon + 1 + length) return;
        const message = JSON.parse(this.buffer.subarray(colon + 1, colon + 1 + length).toString());
        this.buffer = this.buffer.subarray(colon + 1 + length);
        if (!Array.isArray(message)) {
          greet(); // the server's hello: {"applicationType":"gecko","marionetteProtocol":3}
          continue;
        }
        const [, id, error, result] = message as [
          number,
          number,
          { error: string; message: string } | null,
          unknown,
        ];
        const waiter = this.pending.get(id);
        this.pending.delete(id);
        if (error) waiter?.reject(new Error(`${error.error}: ${error.message}`));
        else waiter?.resolve(result);
      }
    });
  }

  /** Starts headless Firefox on a fresh profile and opens a WebDriver session; downloads land in `downloadDir`. */
  static async launch(executable: string, downloadDir: string): Promise<Firefox> {
    const profile = mkdtempSync(join(tmpdir(), 'orderflow-firefox-'));
    const downloads = {
      'browser.download.folderList': 2,
      'browser.download.dir': downloadDir,
      'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
    };
    writeFileSync(
      join(profile, 'user.js'),
      Object.entries({ ...PREFS, ...downloads })
        .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`)
        .join('\n'),
    );
    const child = spawn(executable, ['--headless', '--marionette', '--no-remote', '--profile', profile], {
      stdio: 'ignore',
      env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' },
    });
    const portFile = join(profile, 'MarionetteActivePort');
    const until = Date.now() + 30_000;
    while (!existsSync(portFile) || !readFileSync(portFile, 'utf8').trim()) {
      if (Date.now() > until || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error('Firefox did not open its Marionette port');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const port = Number(readFileSync(portFile, 'utf8').trim());
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const firefox = new Firefox(child, socket, profile);
    await firefox.greeted;
    await firefox.command('WebDriver:NewSession', {
      capabilities: { alwaysMatch: { acceptInsecureCerts: true } },
    });
    return firefox;
  }

  command<T = unknown>(name: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const body = Buffer.from(JSON.stringify([0, id, name, params]));
      this.socket.write(`${body.length}:`);
      this.socket.write(body);
    });
  }

  navigate(url: string): Promise<unknown> {
    return this.command('WebDriver:Navigate', { url });
  }

  /** Runs a function body in the page and answers its return value. */
  async script<T>(body: string, args: unknown[] = []): Promise<T> {
    const { value } = await this.command<{ value: T }>('WebDriver:ExecuteScript', { script: body, args });
    return value;
  }

  private async element(css: string): Promise<string> {
    const { value } = await this.command<{ value: Record<string, string> }>('WebDriver:FindElement', {
      using: 'css selector',
      value: css,
    });
    return value[ELEMENT]!;
  }

  async type(css: string, text: string): Promise<void> {
    await this.command('WebDriver:ElementSendKeys', { id: await this.element(css), text });
  }

  async click(css: string): Promise<void> {
    await this.command('WebDriver:ElementClick', { id: await this.element(css) });
  }

  /** Polls a script until it answers something truthy. */
  async until<T>(body: string, timeoutMs = 10_000, what = body): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.script<T>(body);
      if (value) return value;
      if (Date.now() > end) throw new Error(`Firefox: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async screenshot(path: string): Promise<void> {
    const { value } = await this.command<{ value: string }>('WebDriver:TakeScreenshot', { full: false });
    writeFileSync(path, Buffer.from(value, 'base64'));
  }

  async close(): Promise<void> {
    await this.command('Marionette:Quit', { flags: ['eForceQuit'] }).catch(() => {});
    this.socket.destroy();
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}
