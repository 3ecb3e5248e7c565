// The WebUI's script: polls the API, renders VMs, pinning, health and checkpoints; the console is an xterm.js terminal
// on a live console session (output by Server-Sent Events, input and the keyboard by POST).

// Served as /assets/app.js; every text goes in through textContent, never HTML (no template literals: this is one).
export const APP_JS = `'use strict';
(function () {
  var csrf = '';
  var selected = null;
  var stream = null;
  var busy = false;

  function $(id) { return document.getElementById(id); }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key === 'text') node.textContent = props[key];
      else if (key === 'data') Object.keys(props.data).forEach(function (d) { node.dataset[d] = props.data[d]; });
      else node.setAttribute(key, props[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  // One navigation to the login page: after a logout the status poll's 401 would start a second one, which aborts the
  // first.
  var leaving = false;
  function toLogin() {
    if (leaving) return;
    leaving = true;
    location.assign('/login');
  }

  async function api(method, path, body) {
    var headers = {};
    if (method !== 'GET') headers['x-csrf-token'] = csrf;
    if (body !== undefined) headers['content-type'] = 'application/json';
    var res = await fetch(path, { method: method, headers: headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401) { toLogin(); throw new Error('the session ended'); }
    var data = await res.json().catch(function () { return {}; });
    if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
    return data;
  }

  function say(text, isError) {
    var box = $('message');
    box.textContent = text;
    box.className = isError ? 'error' : '';
    box.hidden = false;
  }

  function path(name) { return '/api/vms/' + encodeURIComponent(name); }

  // Now, not history: a failure the VM has come back from is in its history, not here.
  function health(vm) {
    if (vm.state === 'failed') return 'failed: ' + (vm.failure ? vm.failure.reason : 'no reason recorded');
    if (vm.state === 'ready' && vm.readyAt) return 'ready at ' + vm.readyAt;
    var last = vm.history[vm.history.length - 1];
    return last ? last.event + (last.detail ? ' (' + last.detail + ')' : '') + ' at ' + last.at : 'no events yet';
  }

  function up(vm) { return vm.state !== 'stopped' && vm.state !== 'failed'; }

  function actionButton(vm, action, label, enabled) {
    var button = el('button', { type: 'button', text: label, data: { action: action, vm: vm.name } });
    button.disabled = !enabled;
    return button;
  }

  function renderVms(vms) {
    var body = $('vms').tBodies[0];
    body.replaceChildren.apply(body, vms.map(function (vm) {
      var row = el('tr', { data: { vm: vm.name, state: vm.state } }, [
        el('td', {}, [el('a', { href: '#' + vm.name, text: vm.name, data: { select: vm.name } })]),
        el('td', { text: vm.role }),
        el('td', { text: vm.launch }),
        el('td', { class: 'state state-' + vm.state, text: vm.state }),
        el('td', { class: 'health', text: health(vm) }),
        el('td', {}, [
          actionButton(vm, 'start', 'Start', !up(vm)),
          actionButton(vm, 'stop', 'Stop', up(vm)),
          actionButton(vm, 'restart', 'Restart', up(vm)),
        ]),
      ]);
      if (vm.name === selected) row.className = 'selected';
      return row;
    }));
  }

  function renderPinning(plan) {
    var body = $('pinning').tBodies[0];
    if (!plan) { body.replaceChildren(el('tr', {}, [el('td', { text: 'not pinned (the VM is not running or has no plan)' })])); return; }
    var rows = plan.vcpus.map(function (v) {
      return el('tr', {}, [el('th', { text: 'vCPU ' + v.vcpu }), el('td', { text: 'CPU ' + v.cpu + (v.tid ? ' (thread ' + v.tid + ')' : '') })]);
    });
    rows.push(el('tr', {}, [el('th', { text: 'emulator' }), el('td', { text: plan.emulator.join(', ') || '—' })]));
    rows.push(el('tr', {}, [el('th', { text: 'housekeeping' }), el('td', { text: plan.housekeeping.join(', ') || '—' })]));
    if (plan.memory) rows.push(el('tr', {}, [el('th', { text: 'memory' }), el('td', { text: plan.memory.note })]));
    if (plan.degraded) rows.push(el('tr', {}, [el('th', { text: 'degraded' }), el('td', { class: 'error', text: plan.degraded })]));
    body.replaceChildren.apply(body, rows);
  }

  function renderHistory(vm) {
    var list = $('history');
    list.replaceChildren.apply(list, vm.history.slice(-50).reverse().map(function (h) {
      return el('li', { text: h.at + ' ' + h.event + (h.detail ? ': ' + h.detail : '') });
    }));
  }

  function size(bytes) { return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + ' MiB' : Math.ceil(bytes / 1024) + ' KiB'; }

  function renderCheckpoints(list) {
    var body = $('checkpoints').tBodies[0];
    body.replaceChildren.apply(body, list.map(function (c) {
      var flags = [c.current ? 'current' : '', c.pinned ? 'pinned' : ''].filter(Boolean).join(', ');
      var rollback = el('button', { type: 'button', text: 'Roll back', data: { checkpoint: c.id, op: 'rollback' } });
      var pin = el('button', { type: 'button', text: c.pinned ? 'Unpin' : 'Pin', data: { checkpoint: c.id, op: c.pinned ? 'unpin' : 'pin' } });
      var remove = el('button', { type: 'button', text: 'Delete', data: { checkpoint: c.id, op: 'delete' } });
      rollback.disabled = c.current;
      remove.disabled = c.current || c.pinned;
      return el('tr', { data: { checkpoint: c.id, label: c.label || '', current: String(c.current) } }, [
        el('td', { text: c.id }), el('td', { text: c.label || '' }), el('td', { text: c.createdAt }), el('td', { text: size(c.sizeBytes) }),
        el('td', { class: 'flags', text: flags }), el('td', {}, [rollback, pin, remove]),
      ]);
    }));
  }

  function ruleText(r) {
    var to = !r.to ? 'any' : r.to.cidr || r.to.name || 'vm ' + r.to.vm;
    var ports = r.ports ? ' port ' + r.ports[0] + (r.ports[1] !== r.ports[0] ? '-' + r.ports[1] : '') : '';
    return r.action + ' ' + r.proto + ' to ' + to + ports;
  }

  // A VPN network's tunnel: the VM's only way out, and the address the outside sees it from.
  function tunnelText(t) {
    var handshake = t.handshakeAgeS !== undefined ? ', handshake ' + t.handshakeAgeS + ' s ago' : '';
    var exit = t.exitAddress ? ', exit ' + t.exitAddress : t.check ? ', exit not seen yet' : '';
    return t.provider + ' ' + t.state + (t.endpoint ? ' to ' + t.endpoint : '') + handshake + exit;
  }

  function renderNet(links) {
    $('net-none').hidden = links.length > 0;
    $('net').hidden = links.length === 0;
    var body = $('net').tBodies[0];
    body.replaceChildren.apply(body, links.map(function (l) {
      var c = l.counters;
      return el('tr', { data: { network: l.network } }, [
        el('td', { text: l.network }), el('td', { text: l.address + '/' + l.prefix }), el('td', { text: l.mac }),
        el('td', { text: l.router }), el('td', { text: c ? size(c.sentBytes) + ' (' + c.sentPackets + ')' : '' }),
        el('td', { text: c ? size(c.receivedBytes) + ' (' + c.receivedPackets + ')' : '' }),
        el('td', { text: l.forwards.map(function (f) { return f.proto + ' ' + f.port + '→' + f.to; }).join(', ') }),
        el('td', { class: 'way', text: l.tunnel ? tunnelText(l.tunnel) : 'uplink' }),
      ]);
    }));
    var rules = links.length ? links[0].rules : [];
    $('rules').replaceChildren.apply($('rules'), rules.map(function (r) { return el('li', { text: ruleText(r) }); }));
  }

  // xterm.js writes its styles as <style> elements and, for 24-bit colours, style attributes, both of which the CSP
  // refuses. They go through the CSSOM instead, which it allows: a style element is made an inert <mvos-style> whose
  // text is mirrored into one constructed stylesheet, and a style attribute is set as style.cssText.
  function cspShim() {
    var sheet = new CSSStyleSheet();
    document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    var create = document.createElement;
    document.createElement = function (tag, options) {
      return create.call(document, String(tag).toLowerCase() === 'style' ? 'mvos-style' : tag, options);
    };
    var setAttribute = Element.prototype.setAttribute;
    Element.prototype.setAttribute = function (name, value) {
      if (String(name).toLowerCase() === 'style') { this.style.cssText = value; return; }
      return setAttribute.call(this, name, value);
    };
    function isStyle(node) { return node && (node.nodeName === 'MVOS-STYLE' || (node.parentNode && node.parentNode.nodeName === 'MVOS-STYLE')); }
    new MutationObserver(function (changes) {
      var touched = changes.some(function (m) {
        return isStyle(m.target) || Array.from(m.addedNodes).some(isStyle) || Array.from(m.removedNodes).some(function (n) { return n.nodeName === 'MVOS-STYLE'; });
      });
      if (touched) sheet.replaceSync(Array.from(document.querySelectorAll('mvos-style')).map(function (n) { return n.textContent; }).join(' '));
    }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
  }

  var term = null;
  // The console session of the selected VM: its id (from the stream's first event) and whether it has the keyboard.
  var live = null;
  var typed = '';
  var sending = false;

  // Columns and rows that fill the console box, from the cell size xterm rendered (as its fit addon reads it).
  function fit() {
    var core = term && term._core;
    var cell = core && core._renderService && core._renderService.dimensions.css.cell;
    var box = $('console');
    if (!cell || !cell.width || !cell.height || !box.clientWidth) return;
    var cols = Math.max(20, Math.floor((box.clientWidth - 12) / cell.width));
    var rows = Math.max(5, Math.floor((box.clientHeight - 8) / cell.height));
    if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
  }

  function terminal() {
    if (term) return term;
    cspShim();
    // convertEol: a guest printing bare LF (firmware, an init without a tty) still starts each line at the left.
    term = new Terminal({ convertEol: true, cursorBlink: true, scrollback: 5000, fontSize: 13, fontFamily: 'ui-monospace, monospace', theme: { background: '#0d1117' } });
    term.open($('console'));
    fit();
    window.addEventListener('resize', fit);
    term.onData(type);
    return term;
  }

  function showKeyboard(state) {
    if (live) { live.writer = state.writer; live.holder = state.holder || ''; }
    $('keyboard').dataset.writer = String(state.writer);
    $('keyboard-state').textContent = state.writer ? 'you have the keyboard' : state.holder ? 'read-only: ' + state.holder + ' has the keyboard' : 'read-only: nobody has the keyboard';
    $('take-keyboard').hidden = state.writer;
    $('take-keyboard').textContent = state.holder ? 'Take over the keyboard' : 'Take the keyboard';
  }

  function takeKeyboard(force) {
    if (!live) return Promise.resolve();
    var session = live;
    return api('POST', path(session.vm) + '/console/keyboard', { session: session.id, force: force }).then(function (state) {
      if (live === session) showKeyboard(state);
    });
  }

  // What the terminal answers by itself to a guest's query (cursor position, device attributes, status): busybox's
  // shell asks for the cursor position at every prompt, and the query comes again with the backlog of every new session.
  // (No backslashes: this script is a template literal.)
  var REPORT = new RegExp('^' + String.fromCharCode(27) + '[[][?>]?[0-9;]*[Rcn]$');

  // Typing while nobody has the keyboard takes it; while someone else has it, typing goes nowhere until it is taken
  // over. The terminal's own answers reach the guest only from the session that has the keyboard, and never take it.
  function type(data) {
    if (!live) return;
    if (!live.writer && REPORT.test(data)) return;
    if (!live.writer) {
      if (live.holder) { say('read-only: ' + live.holder + ' has the keyboard; take it over to type', true); return; }
      typed += data;
      takeKeyboard(false).then(pump, function (e) { typed = ''; say(e.message, true); });
      return;
    }
    typed += data;
    pump();
  }

  // One input request at a time, in order, each at most 1024 UTF-16 units (under the agent's 4 KiB of UTF-8).
  async function pump() {
    if (sending || !live || !live.writer) return;
    sending = true;
    var session = live;
    try {
      while (typed && live === session) {
        var cut = Math.min(typed.length, 1024);
        var last = typed.charCodeAt(cut - 1);
        if (cut < typed.length && last >= 0xd800 && last <= 0xdbff) cut--;
        var res = await fetch(path(session.vm) + '/console/input', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ session: session.id, data: typed.slice(0, cut) }) });
        if (res.status === 429) { await new Promise(function (r) { setTimeout(r, 250); }); continue; }
        typed = typed.slice(cut);
        if (!res.ok) {
          var answer = await res.json().catch(function () { return {}; });
          typed = '';
          say(answer.error || ('HTTP ' + res.status), true);
        }
      }
    } finally {
      sending = false;
    }
  }

  function follow(name) {
    if (stream) stream.close();
    live = null;
    typed = '';
    var t = terminal();
    t.reset();
    showKeyboard({ writer: false });
    var source = new EventSource(path(name) + '/console/live');
    stream = source;
    source.onopen = function () { $('console-state').textContent = '(live)'; };
    source.onerror = function () { live = null; $('console-state').textContent = '(reconnecting…)'; };
    // Each (re)connection is a new session: the backlog comes again, so the screen starts over.
    source.addEventListener('session', function (event) {
      var s = JSON.parse(event.data);
      t.reset();
      live = { vm: name, id: s.id, writer: false, holder: '' };
      showKeyboard(s);
    });
    source.addEventListener('keyboard', function (event) {
      var state = JSON.parse(event.data);
      showKeyboard(state);
      if (state.takenBy) say(state.takenBy + ' took the keyboard of ' + name + '; read-only now', false);
    });
    source.onmessage = function (event) { t.write(JSON.parse(event.data)); };
  }

  $('take-keyboard').addEventListener('click', function () {
    takeKeyboard(true).then(function () { if (term) term.focus(); }, function (e) { say(e.message, true); });
  });

  function openConsole(name) {
    select(name);
    $('console-heading').scrollIntoView();
    if (term) term.focus();
  }

  $('rescue-banner').addEventListener('click', function (event) {
    var name = event.target.dataset && event.target.dataset.console;
    if (!name) return;
    event.preventDefault();
    openConsole(name);
  });

  async function refreshDetail() {
    if (!selected) return;
    var results = await Promise.all([
      api('GET', path(selected)), api('GET', path(selected) + '/checkpoints'), api('GET', path(selected) + '/net'),
    ]);
    $('detail').hidden = false;
    $('detail-name').textContent = selected;
    renderPinning(results[0].pinning);
    renderHistory(results[0]);
    renderCheckpoints(results[1]);
    renderNet(results[2]);
  }

  // The A/B slots, what each holds and what became of it, the gate of a version on trial, the last events.
  function renderUpdates(view) {
    // A host without A/B media or an update key has nothing to show here.
    $('updates').hidden = view.slots.length === 0;
    var gate = view.gate && !view.gate.passed ? ' · on trial, waiting for: ' + (view.gate.unmet.join('; ') || 'nothing') : '';
    $('update-summary').textContent = view.enabled
      ? 'Running ' + view.version + ' from slot ' + view.booted + ' · key ' + view.keyId + (view.busy ? ' · ' + view.busy : '') + gate
      : 'Updates are off: ' + view.why;
    $('update-slots').tBodies[0].replaceChildren.apply($('update-slots').tBodies[0], view.slots.map(function (slot) {
      var marks = [slot.booted ? 'booted' : '', slot.bootSlot ? 'boot slot' : '', slot.trying ? 'tried at the next boot' : ''].filter(Boolean).join(', ');
      return el('tr', { data: { slot: slot.slot } }, [
        el('td', { text: slot.slot }), el('td', { text: slot.version || '—' }), el('td', { class: 'state-' + slot.state, text: slot.state }),
        el('td', { text: marks }), el('td', { text: slot.reason || '' }),
      ]);
    }));
    $('update-events').replaceChildren.apply($('update-events'), view.events.slice(-5).reverse().map(function (e) {
      return el('li', { text: e.at + ' ' + e.event + (e.version ? ' ' + e.version : '') + (e.slot ? ' (slot ' + e.slot + ')' : '') + (e.by ? ' by ' + e.by : '') + (e.detail ? ': ' + e.detail : '') });
    }));
    $('update-form').hidden = !view.enabled;
  }

  async function refreshUpdates() {
    try {
      renderUpdates(await api('GET', '/api/update'));
    } catch (e) {
      $('updates').hidden = true;
    }
  }

  $('update-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var file = $('update-file').files[0];
    if (!file) { say('choose a bundle (.mvu) first', true); return; }
    act(async function () {
      var res = await fetch('/api/update?reboot=yes', { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrf, 'content-type': 'application/octet-stream' }, body: file });
      var data = await res.json().catch(function () { return {}; });
      if (!res.ok) throw new Error(data.error || ('HTTP ' + res.status));
      $('update-file').value = '';
      say(data.version + ' written to slot ' + data.slot + '; the host reboots into it', false);
    }, 'update applied');
  });

  $('update-rollback').addEventListener('click', function () {
    if (!confirm('Boot the other slot from now on? The host reboots now.')) return;
    act(function () { return api('POST', '/api/update/rollback?reboot=yes'); }, 'rolled back; the host reboots');
  });

  // The vault: made here (the custodians' cards are shown once), unlocked by passphrase or shares, its entries with a
  // button for the current code of a seed; secrets go in and never come back to the page.
  function renderVault(view) {
    $('vault').hidden = false;
    var r = view.recovery;
    $('vault-summary').textContent = view.state === 'none' ? 'No vault yet.' :
      'The vault is ' + view.state + (r ? ' · custodians: any ' + r.threshold + ' of ' + r.shares : '') +
      (view.unlock.failures ? ' · ' + view.unlock.failures + ' failed unlock attempts in a row' + (view.unlock.retryAfterSeconds ? ', next in ' + view.unlock.retryAfterSeconds + ' s' : '') : '');
    $('vault-create').hidden = view.state !== 'none';
    $('vault-unlock').hidden = view.state !== 'locked';
    $('vault-shares').hidden = !r;
    $('vault-add').hidden = view.state !== 'unlocked';
    $('vault-entries').hidden = view.state !== 'unlocked';
    $('vault-ca').textContent = view.caPublicKey ? 'SSH CA (for TrustedUserCAKeys): ' + view.caPublicKey : '';
    var body = $('vault-entries').tBodies[0];
    var rows = (view.entries || []).map(function (e) {
      var old = body.querySelector('tr[data-entry="' + CSS.escape(e.name) + '"] .vault-code');
      var seed = e.kind === 'totp' || e.kind === 'hotp';
      return el('tr', { data: { entry: e.name } }, [
        el('td', { text: e.name }), el('td', { text: e.kind }), el('td', { text: e.vm || '' }),
        el('td', {}, seed ? [el('button', { type: 'button', data: { code: e.name }, text: 'Code' }), el('span', { class: 'vault-code', text: old ? old.textContent : '' })] : []),
      ]);
    });
    body.replaceChildren.apply(body, rows);
  }

  async function refreshVault() {
    try {
      renderVault(await api('GET', '/api/vault'));
    } catch (e) {
      $('vault').hidden = true;
    }
  }

  $('vault-create').addEventListener('submit', function (event) {
    event.preventDefault();
    var pass = $('vault-new').value;
    if (pass !== $('vault-again').value) { say('the two passphrases differ', true); return; }
    var count = Number($('vault-count').value);
    var body = { passphrase: pass };
    if (count > 0) body.custodians = { threshold: Number($('vault-threshold').value), shares: count };
    act(async function () {
      var made = await api('POST', '/api/vault', body);
      $('vault-new').value = ''; $('vault-again').value = '';
      var cards = $('vault-cards');
      cards.hidden = made.cards.length === 0;
      cards.textContent = made.cards.length ? 'Hand each custodian one card now: they are not shown again.\\n\\n' + made.cards.join('\\n\\n') : '';
    }, 'the vault is made and unlocked');
  });

  $('vault-unlock').addEventListener('submit', function (event) {
    event.preventDefault();
    var shares = $('vault-shares').value.split('\\n').map(function (l) { return l.trim(); }).filter(Boolean);
    var body = shares.length ? { shares: shares } : { passphrase: $('vault-passphrase').value };
    act(async function () {
      await api('POST', '/api/vault/unlock', body);
      $('vault-passphrase').value = ''; $('vault-shares').value = '';
    }, 'the vault is unlocked');
  });

  $('vault-lock').addEventListener('click', function () {
    $('vault-cards').hidden = true;
    $('vault-cards').textContent = '';
    act(function () { return api('POST', '/api/vault/lock'); }, 'the vault is locked');
  });

  $('vault-add').addEventListener('submit', function (event) {
    event.preventDefault();
    var kind = $('vault-kind').value;
    // A password is taken as typed (spaces are characters of it); a seed's spaces, as apps print them, are not.
    var secret = kind === 'password' ? $('vault-secret').value : $('vault-secret').value.replace(/\\s+/g, '').toUpperCase();
    var body = { name: $('vault-name').value.trim(), kind: kind, secret: secret };
    var vm = $('vault-vm').value.trim();
    if (vm) body.vm = vm;
    act(async function () {
      await api('POST', '/api/vault/entries', body);
      $('vault-secret').value = '';
    }, body.name + ' stored');
  });

  $('vault-entries').addEventListener('click', function (event) {
    var name = event.target.dataset.code;
    if (!name) return;
    var cell = event.target.nextSibling;
    api('GET', '/api/vault/entries/' + encodeURIComponent(name) + '/code').then(function (code) {
      cell.textContent = ' ' + code.code + (code.validForSeconds ? ' (' + code.validForSeconds + ' s left)' : '');
    }, function (e) { say(e.message, true); });
  });

  async function refresh() {
    var results = await Promise.all([api('GET', '/api/vms'), api('GET', '/api/rescue')]);
    await refreshUpdates();
    await refreshVault();
    renderVms(results[0]);
    var rescue = results[1];
    var banner = $('rescue-banner');
    banner.hidden = !rescue.active;
    var rescueVm = results[0].find(function (vm) { return vm.role === 'rescue'; });
    var said = rescue.active ? 'The host has fallen back to the rescue VM' + (rescue.reason ? ': ' + rescue.reason : '') + (rescue.since ? ' (since ' + rescue.since + ')' : '') : '';
    if (!rescue.active) banner.replaceChildren();
    else if (banner.dataset.said !== said) {
      banner.replaceChildren(document.createTextNode(said + ' — '), rescueVm ? el('a', { href: '#' + rescueVm.name, id: 'rescue-console', text: 'open the rescue console', data: { console: rescueVm.name } }) : document.createTextNode('no rescue VM is configured'));
    }
    banner.dataset.said = said;
    await refreshDetail();
  }

  function select(name) {
    if (selected === name) return;
    selected = name;
    follow(name);
    refresh().catch(function (e) { say(e.message, true); });
  }

  async function act(work, done) {
    if (busy) return;
    busy = true;
    document.body.classList.add('busy');
    try {
      await work();
      say(done, false);
    } catch (e) {
      say(e.message, true);
    } finally {
      busy = false;
      document.body.classList.remove('busy');
      await refresh().catch(function (e) { say(e.message, true); });
    }
  }

  $('vms').addEventListener('click', function (event) {
    var target = event.target;
    if (target.dataset.select) { event.preventDefault(); select(target.dataset.select); return; }
    var action = target.dataset.action;
    if (!action) return;
    var name = target.dataset.vm;
    act(async function () {
      var vm = await api('POST', path(name) + '/' + action);
      if (vm.state === 'failed') throw new Error(name + ' failed: ' + (vm.failure ? vm.failure.reason : 'see its console'));
    }, name + ': ' + action + ' done');
  });

  $('checkpoints').addEventListener('click', function (event) {
    var id = event.target.dataset.checkpoint;
    var op = event.target.dataset.op;
    if (!id || !op) return;
    var name = selected;
    var base = path(name) + '/checkpoints/' + encodeURIComponent(id);
    if (op === 'rollback') {
      if (!confirm('Roll ' + name + ' back to ' + id + '? Changes since then are lost; a running VM restarts.')) return;
      act(function () { return api('POST', base + '/rollback', { restart: true }); }, name + ' rolled back to ' + id);
    } else if (op === 'delete') {
      if (!confirm('Delete checkpoint ' + id + '?')) return;
      act(function () { return api('DELETE', base); }, 'checkpoint ' + id + ' deleted');
    } else {
      act(function () { return api('POST', base + '/pin', { pinned: op === 'pin' }); }, 'checkpoint ' + id + (op === 'pin' ? ' pinned' : ' unpinned'));
    }
  });

  $('checkpoint-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var label = $('checkpoint-label').value.trim();
    act(async function () {
      var made = await api('POST', path(selected) + '/checkpoints', label ? { label: label } : {});
      $('checkpoint-label').value = '';
      return made;
    }, 'checkpoint taken');
  });

  $('logout').addEventListener('click', function () {
    api('POST', '/logout').finally(toLogin);
  });

  async function start() {
    var session = await api('GET', '/api/session');
    csrf = session.csrf || '';
    $('user').textContent = session.user;
    var host = await api('GET', '/api/host');
    $('host-name').textContent = host.name + ' ' + host.version;
    $('host-facts').textContent = host.accel.toUpperCase() + ' · ' + host.cpus.online.length + ' CPUs · ' + host.memoryMiB + ' MiB · node ' + host.versions.node + ' · qemu ' + host.versions.qemu;
    var vms = await api('GET', '/api/vms');
    var first = vms.find(function (vm) { return vm.role === 'controller'; }) || vms[0];
    var wanted = decodeURIComponent(location.hash.slice(1));
    if (vms.some(function (vm) { return vm.name === wanted; })) first = { name: wanted };
    if (first) select(first.name);
    else await refresh();
    setInterval(function () { if (!busy) refresh().catch(function (e) { say(e.message, true); }); }, 2000);
  }

  start().catch(function (e) { say(e.message, true); });
})();
`;
