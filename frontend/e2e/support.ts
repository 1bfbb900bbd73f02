// Shared by the Playwright config and the specs: where things are, and a demo platform a spec can stop and
// restart itself (the reconnect journey).
import { expect, type APIRequestContext, type Page } from '@playwright/test';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const dist = resolve(root, 'dist');
export const telemetra = process.env.TELEMETRA_BIN ?? resolve(root, '../.venv/bin/telemetra');
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const screenshotDir = resolve(root, 'test-results/screenshots');
export const DEMO_STREAMS = ['nebula', 'pixelpioneer', 'chesswhiz'];

export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function freePort(): string {
  const script =
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})";
  return execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }).trim();
}

/** A `telemetra demo` process of the spec's own, on its own port and data directory. */
export class Demo {
  private child: ChildProcess | null = null;
  readonly baseURL: string;
  constructor(
    readonly port: string,
    readonly dataDir: string,
  ) {
    this.baseURL = `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    mkdirSync(this.dataDir, { recursive: true });
    const child = spawn(
      telemetra,
      ['demo', '--host', '127.0.0.1', '--port', this.port, '--data-dir', this.dataDir, '--static-dir', dist],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`telemetra demo exited with ${child.exitCode}`);
      try {
        const response = await fetch(`${this.baseURL}/health`);
        if (response.ok) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('telemetra demo did not start within 30 s');
  }

  /** SIGTERM (a clean stop), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

export async function apiJson<T>(request: APIRequestContext, path: string): Promise<T> {
  const response = await request.get(path);
  expect(response.ok(), `${path} answered ${response.status()}`).toBeTruthy();
  return (await response.json()) as T;
}

/** The window starts the page holds for its charts (through the read-only test hook). */
export async function pageWindowStarts(page: Page): Promise<{ starts: number[]; resolution: string }> {
  return page.evaluate(() => {
    const state = window.__telemetra!.state();
    return { starts: state.series.windows.map((w) => Date.parse(w.window_start)), resolution: state.series.resolution };
  });
}

export function screenshotPath(name: string): string {
  mkdirSync(screenshotDir, { recursive: true });
  return join(screenshotDir, name);
}
