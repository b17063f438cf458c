// Account page: make and revoke keys, change the password, sign out everywhere, all through
// the JSON API. A new key's token is shown once, here; the list reloads after each change.
import { api } from './api.js';

const $ = (id) => document.getElementById(id);
const errorBox = $('account-error');

function fail(err) {
  errorBox.textContent = err.message;
  errorBox.classList.remove('hidden');
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const scopes = [...form.querySelectorAll('input[name=scopes]:checked')].map((box) => box.value);
  const body = { name: $('key-name').value, scopes };
  if ($('key-expires').value) {
    body.expires_at = new Date(`${$('key-expires').value}T23:59:59Z`).toISOString();
  }
  try {
    const made = await api('POST', '/api/v1/keys', body);
    $('new-key-token').textContent = made.token;
    $('new-key').classList.remove('hidden');
    form.reset();
  } catch (err) {
    fail(err);
  }
});

for (const button of document.querySelectorAll('.revoke-key')) {
  button.addEventListener('click', async () => {
    if (!window.confirm(`Revoke the key "${button.dataset.name}"? Programs using it stop at once.`)) return;
    try {
      await api('DELETE', `/api/v1/keys/${button.dataset.key}`);
      window.location.reload();
    } catch (err) {
      fail(err);
    }
  });
}

const passwordForm = $('password-form');
if (passwordForm) {
  passwordForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/me/password', {
        current_password: $('current-password').value,
        new_password: $('new-password').value,
      });
      // Every session ended, this one too.
      window.location.assign('/login?next=/account');
    } catch (err) {
      fail(err);
    }
  });
}

$('sign-out-everywhere').addEventListener('click', async () => {
  try {
    await api('DELETE', '/api/v1/me/sessions');
    window.location.assign('/login');
  } catch (err) {
    fail(err);
  }
});
