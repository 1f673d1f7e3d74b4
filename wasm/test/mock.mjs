// Starts the workspace's mock API (target/debug/headway-mock) for a test file.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const MOCK_BIN = process.env.HEADWAY_MOCK ?? `${root}target/debug/headway-mock`;

/** Starts the mock with `config` (and `--static dir`); resolves to { url, control, stop }. */
export async function startMock(config = {}, { staticDir } = {}) {
  if (!existsSync(MOCK_BIN)) {
    throw new Error(`${MOCK_BIN} is missing: run cargo build -p headway-mock`);
  }
  const args = ['--port', '0', '--config', JSON.stringify(config)];
  if (staticDir) args.push('--static', staticDir);
  const child = spawn(MOCK_BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the mock did not start in 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`the mock exited with ${code}`)));
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on (http:\/\/\S+)/.exec(line);
      m ? resolve(m[1]) : reject(new Error(`unexpected first line: ${line}`));
    });
  });
  return {
    url,
    async stats() {
      return (await fetch(`${url}/__stats`)).json();
    },
    async reset() {
      await fetch(`${url}/__reset`, { method: 'POST' });
    },
    async configure(next) {
      const res = await fetch(`${url}/__config`, { method: 'POST', body: JSON.stringify(next) });
      if (!res.ok) throw new Error(`config rejected: ${await res.text()}`);
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}
