// The WebUI's routes: its two pages and its assets (xterm.js from its pinned package among them), all compiled into the
// agent bundle (nothing read from disk).
import type { ServerResponse } from 'node:http';
import { HttpError, sendText } from '../api/http.ts';
import type { Route } from '../api/router.ts';
import { APP_JS } from './app-script.ts';
import { LOGIN_JS } from './login-script.ts';
import { LOGIN_PAGE, MAIN_PAGE } from './pages.ts';
import { ICON_SVG, STYLE_CSS } from './style.ts';
import { XTERM_CSS, XTERM_JS } from './xterm-assets.ts';

// Only our own scripts, styles and API calls; no inline code, no framing, forms post only here.
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ASSETS: Record<string, { type: string; text: string }> = {
  'app.js': { type: 'text/javascript', text: APP_JS },
  'login.js': { type: 'text/javascript', text: LOGIN_JS },
  'style.css': { type: 'text/css', text: STYLE_CSS },
  'xterm.js': { type: 'text/javascript', text: XTERM_JS },
  'xterm.css': { type: 'text/css', text: XTERM_CSS },
  'icon.svg': { type: 'image/svg+xml', text: ICON_SVG },
};

// The login page with a status: 200 at /login, 401 for a page asked for without a session.
export function sendLoginPage(res: ServerResponse, status = 401): void {
  sendText(res, status, 'text/html', LOGIN_PAGE, { 'content-security-policy': CSP });
}

// The page and asset rows of the table.
export function webRoutes(): Route[] {
  const page =
    (html: string): Route['handle'] =>
    (ctx) => {
      sendText(ctx.res, 200, 'text/html', html, { 'content-security-policy': CSP });
      return undefined;
    };
  return [
    { method: 'GET', path: '/', summary: 'The WebUI', access: 'page', handle: page(MAIN_PAGE) },
    {
      method: 'GET',
      path: '/login',
      summary: 'The login page',
      access: 'public',
      handle: (ctx) => {
        sendLoginPage(ctx.res, 200);
        return undefined;
      },
    },
    {
      method: 'GET',
      path: '/assets/{file}',
      summary: 'WebUI scripts and styles',
      access: 'public',
      handle: (ctx) => {
        const asset = Object.hasOwn(ASSETS, ctx.params.file!) ? ASSETS[ctx.params.file!] : undefined;
        if (!asset) throw new HttpError(404, `no such asset: ${ctx.params.file}`);
        sendText(ctx.res, 200, asset.type, asset.text);
        return undefined;
      },
    },
  ];
}
