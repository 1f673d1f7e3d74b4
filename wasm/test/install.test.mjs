// The install story of README.md, as written: `npm pack` of wasm/pkg, `npm install` of the
// tarball into a fresh app, then the package from ESM, from CommonJS through `await import()`,
// and `require()` failing with the documented error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('the npm pack tarball installs and loads from ESM and, by import(), from CommonJS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'headway-install-'));
  try {
    run('npm', ['pack', '--pack-destination', dir], pkg);
    const [tarball] = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    assert.match(tarball, /^headway-limiter-\d+\.\d+\.\d+\.tgz$/);
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{ "name": "app", "private": true }\n');
    run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball)], app);

    writeFileSync(join(app, 'esm.mjs'), `
      import { Limiter, HeadwayTimeoutError } from 'headway-limiter';
      const limiter = new Limiter({ limit: 10, per: '1s' });
      const permit = await limiter.acquire();
      permit.release();
      console.log(typeof HeadwayTimeoutError, limiter.size, limiter.pending);
    `);
    assert.equal(run('node', ['esm.mjs'], app).trim(), 'function 0 0');

    writeFileSync(join(app, 'cjs.cjs'), `
      let code = 'loaded';
      try { require('headway-limiter'); } catch (e) { code = e.code; }
      (async () => {
        const { Limiter } = await import('headway-limiter');
        console.log(code, typeof new Limiter({ limit: 1, per: '1s' }).onIdle);
      })();
    `);
    const [required, imported] = run('node', ['cjs.cjs'], app).trim().split(' ');
    assert.ok(['ERR_REQUIRE_ASYNC_MODULE', 'ERR_REQUIRE_ESM'].includes(required), required);
    assert.equal(imported, 'function');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
