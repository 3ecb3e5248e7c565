// The WebUI's two HTML pages; scripts and styles come from /assets (the CSP allows nothing inline).

// The login page: user, password and one-time code.
export const LOGIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Multiverse — log in</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="/assets/icon.svg">
<script src="/assets/login.js" defer></script>
</head>
<body class="login">
<main>
<h1>Multiverse</h1>
<form id="login" autocomplete="on">
<label>User <input name="user" id="user" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<label>Code <input name="code" id="code" inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code" required></label>
<button type="submit">Log in</button>
<p id="login-error" class="error" role="alert" hidden></p>
</form>
</main>
</body>
</html>
`;

// The main page: host, rescue banner, VM list, updates and the selected VM's pinning, health, checkpoints and console.
export const MAIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Multiverse</title>
<link rel="stylesheet" href="/assets/xterm.css">
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="/assets/icon.svg">
<script src="/assets/xterm.js" defer></script>
<script src="/assets/app.js" defer></script>
</head>
<body>
<header>
<h1>Multiverse <span id="host-name"></span></h1>
<p id="host-facts"></p>
<p class="who"><span id="user"></span> <button type="button" id="logout">Log out</button></p>
</header>
<div id="rescue-banner" class="banner" role="alert" hidden></div>
<p id="message" role="status" hidden></p>
<main>
<section>
<h2>Virtual machines</h2>
<table id="vms">
<thead><tr><th>Name</th><th>Role</th><th>Launch</th><th>State</th><th>Health</th><th>Actions</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section id="updates" hidden>
<h2>Updates</h2>
<p id="update-summary"></p>
<table id="update-slots">
<thead><tr><th>Slot</th><th>Version</th><th>State</th><th></th><th>Why</th></tr></thead>
<tbody></tbody>
</table>
<ol id="update-events"></ol>
<form id="update-form"><input id="update-file" type="file" accept=".mvu"> <button type="submit">Apply bundle and reboot</button> <button type="button" id="update-rollback">Roll back</button></form>
</section>
<section id="detail" hidden>
<h2>VM <span id="detail-name"></span></h2>
<div class="columns">
<div>
<h3>CPU pinning</h3>
<table id="pinning"><tbody></tbody></table>
<h3>Health history</h3>
<ol id="history"></ol>
<h3>Network</h3>
<p id="net-none" class="muted">on no network</p>
<table id="net"><thead><tr><th>Network</th><th>Address</th><th>MAC</th><th>Router</th><th>Sent</th><th>Received</th><th>Forwards</th><th>Way out</th></tr></thead><tbody></tbody></table>
<ol id="rules"></ol>
</div>
<div>
<h3>Checkpoints</h3>
<form id="checkpoint-form"><input id="checkpoint-label" placeholder="label (optional)" maxlength="200"> <button type="submit">Take checkpoint</button></form>
<table id="checkpoints">
<thead><tr><th>Id</th><th>Label</th><th>Created</th><th>Size</th><th></th><th>Actions</th></tr></thead>
<tbody></tbody>
</table>
</div>
</div>
<h3 id="console-heading">Console <span id="console-state" class="muted"></span></h3>
<p id="keyboard" class="keyboard" data-writer="false"><span id="keyboard-state">read-only</span> <button type="button" id="take-keyboard">Take the keyboard</button></p>
<div id="console" class="terminal"></div>
</section>
<section id="vault" hidden>
<h2>Vault</h2>
<p id="vault-summary"></p>
<form id="vault-create" hidden><input id="vault-new" type="password" autocomplete="new-password" placeholder="new passphrase (8 or more)"> <input id="vault-again" type="password" autocomplete="new-password" placeholder="again"> custodians: any <input id="vault-threshold" type="number" min="2" max="32" value="2" class="narrow"> of <input id="vault-count" type="number" min="0" max="32" value="0" class="narrow"> <button type="submit">Make the vault</button></form>
<pre id="vault-cards" hidden></pre>
<form id="vault-unlock" hidden><input id="vault-passphrase" type="password" autocomplete="current-password" placeholder="passphrase"> <button type="submit">Unlock</button><br><textarea id="vault-shares" rows="3" cols="70" placeholder="or custodians' share cards, one a line (MVOS-SHARE-1:…)" hidden></textarea></form>
<table id="vault-entries" hidden>
<thead><tr><th>Name</th><th>Kind</th><th>For VM</th><th></th></tr></thead>
<tbody></tbody>
</table>
<form id="vault-add" hidden><input id="vault-name" placeholder="name" class="narrow"> <select id="vault-kind"><option>password</option><option>totp</option><option>hotp</option></select> <input id="vault-secret" type="password" autocomplete="off" placeholder="secret or base32 seed"> <input id="vault-vm" placeholder="for VM (optional)" class="narrow"> <button type="submit">Store</button> <button type="button" id="vault-lock">Lock</button></form>
<p id="vault-ca" class="muted"></p>
</section>
</main>
</body>
</html>
`;
