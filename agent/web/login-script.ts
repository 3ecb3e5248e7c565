// The login page's script: posts user, password and code as JSON, then opens the WebUI.

// Served as /assets/login.js (no template literals inside: this text is itself one).
export const LOGIN_JS = `'use strict';
document.getElementById('login').addEventListener('submit', async function (event) {
  event.preventDefault();
  var error = document.getElementById('login-error');
  error.hidden = true;
  var form = event.target;
  var body = { user: form.user.value, password: form.password.value, code: form.code.value };
  try {
    var res = await fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
    if (res.ok) { location.assign('/'); return; }
    var data = await res.json().catch(function () { return {}; });
    error.textContent = data.error || ('login failed (' + res.status + ')');
  } catch (e) {
    error.textContent = 'the agent did not answer: ' + e.message;
  }
  form.code.value = '';
  error.hidden = false;
});
`;
