// Account page: make and revoke keys, add and remove webhooks and read their delivery logs,
// change the password, sign out everywhere, all through the JSON API. A new key's token and a
// new webhook's secret are shown once, here; the lists reload after each change.
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

$('webhook-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const events = [...form.querySelectorAll('input[name=events]:checked')].map((box) => box.value);
  try {
    const made = await api('POST', '/api/v1/webhooks', { url: $('webhook-url').value, events });
    $('new-webhook-secret').textContent = made.secret;
    $('new-webhook').classList.remove('hidden');
    form.reset();
  } catch (err) {
    fail(err);
  }
});

for (const button of document.querySelectorAll('.delete-webhook')) {
  button.addEventListener('click', async () => {
    if (!window.confirm(`Delete the webhook to ${button.dataset.url}? Its pending deliveries are dropped.`)) return;
    try {
      await api('DELETE', `/api/v1/webhooks/${button.dataset.webhook}`);
      window.location.reload();
    } catch (err) {
      fail(err);
    }
  });
}

// One row of the delivery log, built from text nodes only (nothing in it is markup).
function deliveryRow(webhook, delivery) {
  const row = document.createElement('tr');
  const answer = delivery.response_status ?? delivery.error ?? '';
  for (const text of [delivery.created_at, delivery.event, delivery.status, delivery.attempts, answer]) {
    const cell = document.createElement('td');
    cell.textContent = String(text);
    row.append(cell);
  }
  const actions = document.createElement('td');
  if (delivery.status !== 'pending') {
    const again = document.createElement('button');
    again.type = 'button';
    again.textContent = 'Redeliver';
    again.addEventListener('click', async () => {
      try {
        await api('POST', `/api/v1/webhooks/${webhook}/deliveries/${delivery.id}/redeliver`);
        await showDeliveries(webhook);
      } catch (err) {
        fail(err);
      }
    });
    actions.append(again);
  }
  row.append(actions);
  return row;
}

async function showDeliveries(webhook) {
  const log = await api('GET', `/api/v1/webhooks/${webhook}/deliveries?limit=50`);
  const body = $('delivery-log').querySelector('tbody');
  body.replaceChildren(...log.deliveries.map((d) => deliveryRow(webhook, d)));
  $('deliveries').classList.remove('hidden');
}

for (const button of document.querySelectorAll('.show-deliveries')) {
  button.addEventListener('click', () => showDeliveries(button.dataset.webhook).catch(fail));
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
