// The JavaScript quick starts of README.md and wasm/README.md, and the "after" half of each
// JavaScript block in docs/coming-from.md, read from the Markdown and run in Node against
// the mock API. Nothing is copied by hand: editing a snippet changes what runs here.
//
// Each snippet runs as written, as its own file in a fresh directory whose
// node_modules/headway-limiter is this package (wasm/pkg), so `import 'headway-limiter'` and
// `./node_modules/headway-limiter/index.js` resolve as they would in an app. The only
// rewrite is the example origin, `https://api.example.com`, which becomes the mock's URL.
// An HTML block's module script runs in Node. Every snippet must exit 0, reach the mock, and
// draw no 429 from a server that enforces 10 a second (bursts of 10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startMock } from './mock.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = fileURLToPath(new URL('../pkg/', import.meta.url));
const ORIGIN = 'https://api.example.com';

/** The lines of `file` from the heading `heading` to the next heading of its level or above. */
function section(file, heading) {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const start = lines.indexOf(heading);
  assert.notEqual(start, -1, `${file}: no heading ${JSON.stringify(heading)}`);
  const level = heading.indexOf(' ');
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.indexOf(' ') <= level);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The fenced blocks of `lines` as { lang, code }, and the `###` heading each is under. */
function blocks(lines) {
  const out = [];
  let current = null;
  let under = '';
  for (const line of lines) {
    if (current === null && line.startsWith('### ')) under = line.slice(4);
    else if (current === null && line.startsWith('```')) current = { lang: line.slice(3).trim(), code: '', under };
    else if (current !== null && line.startsWith('```')) {
      out.push(current);
      current = null;
    } else if (current !== null) current.code += `${line}\n`;
  }
  return out;
}

/** The code of a `js` block, or the module script of an `html` one; null for other blocks. */
function script({ lang, code }) {
  if (lang === 'js') return code;
  if (lang === 'html') {
    const m = /<script type="module">\n([\s\S]*?)<\/script>/.exec(code);
    assert.ok(m, `an html block without a module script:\n${code}`);
    return m[1];
  }
  return null;
}

/**
 * Runs `code` as `name` (`.mjs`, or `.cjs` when its first line says `// x.cjs`) in a fresh app
 * directory, against a fresh mock; resolves to the mock's counts once the process exited 0.
 */
async function runSnippet(name, code) {
  const mock = await startMock({
    routes: { '/': { policy: { gcra: { limit: 10, period_ms: 1000, burst: 10 } }, headers: 'ietf08' } },
  });
  const dir = mkdtempSync(join(tmpdir(), 'headway-snippet-'));
  try {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(pkg, join(dir, 'node_modules', 'headway-limiter'), 'dir');
    const file = /^\/\/ \S+\.cjs$/m.test(code.split('\n')[0]) ? `${name}.cjs` : `${name}.mjs`;
    writeFileSync(join(dir, file), code.replaceAll(ORIGIN, mock.url));
    try {
      await promisify(execFile)(process.execPath, [file], { cwd: dir, timeout: 60_000 });
    } catch (e) {
      assert.fail(`${name} failed (${e.code ?? e.signal}):\n${e.stderr}\n--- the snippet ---\n${code}`);
    }
    return (await mock.stats()).total;
  } finally {
    mock.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs each script of `found` and checks what the mock saw. */
async function runAll(t, found) {
  assert.ok(found.length > 0, 'no snippet found');
  for (const { name, code } of found) {
    await t.test(name, async () => {
      const counts = await runSnippet(name.replace(/\W+/g, '-'), code);
      assert.ok(counts.admitted > 0, `${name} never reached the mock: ${JSON.stringify(counts)}`);
      assert.equal(counts.rejected, 0, `${name} drew 429s: ${JSON.stringify(counts)}`);
    });
  }
}

const quickStarts = (file, heading) =>
  blocks(section(file, heading))
    .map((b, i) => ({
      name: [file, heading.replace(/^#+ /, ''), b.under, `block ${i + 1}`].filter(Boolean).join(', '),
      code: script(b),
    }))
    .filter((s) => s.code !== null);

test('the quick starts of README.md and wasm/README.md run against the mock', async (t) => {
  const readme = quickStarts('README.md', '## Browser and Node: the npm package `headway-limiter`');
  // The Quick start section of the package's README, up to "What it does".
  const pkgReadme = quickStarts('wasm/README.md', '## Quick start').filter((s) => !/What it does|Advanced/.test(s.name));
  // At least a page and a Node example in each (the package README has a CommonJS one too).
  assert.ok(readme.length >= 2 && pkgReadme.length >= 2, [...readme, ...pkgReadme].map((s) => s.name).join('\n'));
  await runAll(t, [...readme, ...pkgReadme]);
});

test('the "after" of each JavaScript section of docs/coming-from.md runs against the mock', async (t) => {
  const found = blocks(section('docs/coming-from.md', '## JavaScript')).map((b) => {
    assert.equal(b.lang, 'js', `${b.under}: a ${b.lang} block`);
    const [, after] = b.code.split('// after\n');
    assert.ok(after, `${b.under}: no "// after" line`);
    const urls = [1, 2, 3, 4, 5].map((i) => `${ORIGIN}/items/${i}`);
    // The snippets' free names: `Limiter`, `urls` and `url`.
    const prelude = `import { Limiter } from 'headway-limiter';\n` +
      `const urls = ${JSON.stringify(urls)};\nconst url = urls[0];\n`;
    return { name: `coming-from ${b.under}`, code: prelude + after };
  });
  assert.ok(found.some((s) => s.name === 'coming-from p-queue'), found.map((s) => s.name).join('\n'));
  await runAll(t, found);
});
