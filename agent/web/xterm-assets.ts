// xterm.js for the WebUI's console: from the pinned npm package when run from the checkout; the agent bundle replaces
// this module with the files' text (builder/agent/bundle.ts), so the host reads nothing from disk for it.
import { readXtermAssets } from '../../common/xterm-assets.ts';

const assets = readXtermAssets();

// The package's version (package.json pins it exactly).
export const XTERM_VERSION = assets.version;
// lib/xterm.js, the UMD build: as a plain script it defines window.Terminal.
export const XTERM_JS = assets.js;
// css/xterm.css.
export const XTERM_CSS = assets.css;
