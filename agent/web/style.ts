// The WebUI's stylesheet: plain, readable, no web fonts or images.

// Served as /assets/icon.svg: three nested circles, the multiverse.
export const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><g fill="none" stroke="#0969da" ' +
  'stroke-width="3"><circle cx="16" cy="16" r="14"/><circle cx="16" cy="16" r="8"/><circle cx="16" cy="16" ' +
  'r="2"/></g></svg>';

// Served as /assets/style.css.
export const STYLE_CSS = `
:root { --fg: #1b1f24; --muted: #5b6570; --line: #d0d7de; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: #fff; }
header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1.2em; background: var(--bg); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 1.25em; margin: 0; }
header p { margin: 0; color: var(--muted); }
.who { margin-left: auto !important; }
main { padding: 0 1.2em 2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .5em; }
h3 { font-size: 1em; margin: 1em 0 .4em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
tr.selected { background: #eef4ff; }
button { font: inherit; padding: .15em .7em; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
button:hover { background: var(--bg); }
button:disabled { opacity: .45; cursor: default; }
td button { margin-right: .3em; }
.narrow { width: 8em; }
.muted { color: var(--muted); overflow-wrap: anywhere; }
#vault-cards { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--bg); padding: .6em; }
.state { font-weight: 600; }
.state-ready, .state-running { color: var(--ok); }
.state-starting, .state-stopping { color: var(--warn); }
.state-failed { color: var(--bad); }
.state-stopped { color: var(--muted); }
.banner { padding: .8em 1.2em; background: var(--bad); color: #fff; font-weight: 600; }
#message { margin: .6em 1.2em; padding: .4em .8em; border-radius: 4px; background: var(--bg); }
#message.error, .error { color: var(--bad); }
.muted { color: var(--muted); font-weight: normal; }
.columns { display: grid; grid-template-columns: minmax(16em, 1fr) 2fr; gap: 2em; }
#console { height: 26em; background: #0d1117; padding: .4em; }
.keyboard { margin: .2em 0 .5em; }
.keyboard[data-writer="true"] #keyboard-state { color: var(--ok); font-weight: 600; }
.keyboard[data-writer="false"] #keyboard-state { color: var(--warn); font-weight: 600; }
mvos-style { display: none; }
.banner a { color: #fff; }
#history { padding-left: 1.4em; margin: 0; max-height: 14em; overflow: auto; }
body.login main { max-width: 22em; margin: 4em auto; padding: 1.5em; border: 1px solid var(--line); border-radius: 6px; }
body.login label { display: block; margin: .7em 0; }
body.login input { display: block; width: 100%; font: inherit; padding: .35em; margin-top: .2em; }
body.login button { margin-top: .6em; width: 100%; padding: .4em; }
`;
