// Users page (admins): add a user (and show their invite link), make a fresh invite link,
// remove a user (their videos are deleted), all through the JSON API.
import { api } from './api.js';

const $ = (id) => document.getElementById(id);
const errorBox = $('users-error');

function fail(err) {
  errorBox.textContent = err.message;
  errorBox.classList.remove('hidden');
}

function showInvite(username, url) {
  $('invite-user').textContent = username;
  $('invite-url').textContent = url;
  $('invite').classList.remove('hidden');
}

$('user-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = $('new-username').value;
  try {
    const added = await api('POST', '/api/v1/users', { username, role: $('new-role').value });
    showInvite(username, added.invite_url);
    event.target.reset();
  } catch (err) {
    fail(err);
  }
});

for (const button of document.querySelectorAll('.resend-invite')) {
  button.addEventListener('click', async () => {
    try {
      const invite = await api('POST', `/api/v1/users/${button.dataset.user}/invite`);
      showInvite(button.dataset.name, invite.invite_url);
    } catch (err) {
      fail(err);
    }
  });
}

for (const button of document.querySelectorAll('.remove-user')) {
  button.addEventListener('click', async () => {
    const name = button.dataset.name;
    if (!window.confirm(`Remove ${name}? Their keys stop working and their videos are deleted.`)) return;
    try {
      await api('DELETE', `/api/v1/users/${button.dataset.user}`);
      window.location.reload();
    } catch (err) {
      fail(err);
    }
  });
}
