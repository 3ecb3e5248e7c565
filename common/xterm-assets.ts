// xterm.js's browser build and stylesheet, read from the pinned @xterm/xterm package (npm ci installs it). The agent
// serves them; its bundle gets them inlined as text (bundle.ts), so the host needs no node_modules and nothing
// downloaded is committed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// The package's version, its UMD build (defines window.Terminal as a plain script) and its CSS.
export interface XtermAssets {
  version: string;
  js: string;
  css: string;
}

// The module that stands in for agent/web/xterm-assets.ts inside the bundle.
export const XTERM_ASSETS_MODULE = /[\\/]agent[\\/]web[\\/]xterm-assets\.ts$/;

// Reads the installed package; the source-map line goes (the map is not served).
export function readXtermAssets(): XtermAssets {
  const dir = dirname(createRequire(import.meta.url).resolve('@xterm/xterm/package.json'));
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  const js = readFileSync(join(dir, 'lib', 'xterm.js'), 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
  return { version, js, css: readFileSync(join(dir, 'css', 'xterm.css'), 'utf8') };
}

// The assets as a module of string constants (what the bundle carries instead of the reads).
export function xtermAssetsModule(assets: XtermAssets = readXtermAssets()): string {
  return [
    `export const XTERM_VERSION = ${JSON.stringify(assets.version)};`,
    `export const XTERM_JS = ${JSON.stringify(assets.js)};`,
    `export const XTERM_CSS = ${JSON.stringify(assets.css)};`,
    '',
  ].join('\n');
}
