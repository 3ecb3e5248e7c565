// xterm.js is the pinned package's, served from the agent's own assets; the bundle carries it inlined.
import { readFile } from 'node:fs/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CSP, webRoutes } from '../../agent/web/routes.ts';
import { XTERM_CSS, XTERM_JS, XTERM_VERSION } from '../../agent/web/xterm-assets.ts';
import { bundleAgent } from '../../builder/agent/bundle.ts';

test('the served version is the one package.json pins', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  assert.is(pkg.dependencies['@xterm/xterm'], XTERM_VERSION, 'pinned exactly');
  assert.match(XTERM_JS, /^!function\(e,t\)\{if\("object"==typeof exports/, 'the UMD build');
  assert.not.match(XTERM_JS, /sourceMappingURL/, 'no source map is pointed to (none is served)');
  assert.match(XTERM_CSS, /\.xterm \.xterm-helpers/);
});

test('the agent bundle carries xterm.js inlined and reads no package at run time', async () => {
  const text = (await bundleAgent()).code.toString('utf8');
  // esbuild re-quotes string literals: look for long runs of the build that need no escaping.
  const runs = XTERM_JS.match(/[A-Za-z0-9_.,=(){};:!?&|+<>[\]-]{120,}/g) ?? [];
  assert.ok(runs.length > 20, 'the build has long plain runs');
  assert.ok(
    runs.every((run) => text.includes(run)),
    'the UMD build is in the bundle',
  );
  assert.ok(text.includes('.xterm .xterm-helpers'), 'the stylesheet is in the bundle');
  assert.not.match(text, /@xterm\/xterm\/package\.json/, 'no run-time lookup of the package');
});

test("xterm.js and its CSS are served as the WebUI's own assets, under a CSP that allows only them", () => {
  const assets = webRoutes().find((r) => r.path === '/assets/{file}')!;
  const sent: Array<{ type: string; text: string }> = [];
  for (const file of ['xterm.js', 'xterm.css']) {
    const res = {
      writeHead: (_s: number, h: Record<string, string>) => sent.push({ type: h['content-type']!, text: '' }),
      end: (t: string) => (sent.at(-1)!.text = t),
    };
    assets.handle({ params: { file }, res } as never);
  }
  assert.match(sent[0]!.type, /^text\/javascript/);
  assert.is(sent[0]!.text, XTERM_JS);
  assert.match(sent[1]!.type, /^text\/css/);
  assert.match(CSP, /script-src 'self';/);
  assert.match(CSP, /style-src 'self';/);
  assert.not.match(CSP, /unsafe-inline|unsafe-eval/);
});

test.run();
