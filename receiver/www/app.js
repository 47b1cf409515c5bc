// The dashboard's entry: sign-in, and the hash routes #/ (fleet), #/device/{id},
// #/messages?filter and #/message/{uuid}.
import { AuthError, setToken, token } from './api.js';
import { devicePage } from './device.js';
import { fleetPage } from './fleet.js';
import { messagePage, messagesPage } from './messages.js';

const view = document.getElementById('view');
const login = document.getElementById('login');
const logout = document.getElementById('logout');
let stop = () => {};

function showLogin(message) {
  stop();
  stop = () => {};
  view.replaceChildren();
  logout.hidden = true;
  login.hidden = false;
  document.getElementById('login-error').textContent = message || '';
  document.getElementById('token').focus();
}

// True when the error was a refused token (the sign-in form is shown again).
function onAuthError(error) {
  if (!(error instanceof AuthError)) return false;
  setToken('');
  showLogin('The receiver refused that token.');
  return true;
}

function route() {
  if (!token()) {
    showLogin('');
    return;
  }
  stop();
  login.hidden = true;
  logout.hidden = false;
  view.dataset.ready = '';
  const hash = location.hash || '#/';
  // #/device/{id}?source=&field=&range= (range: 1h, 24h, 7d, 30d): a chart to link to.
  const device = hash.match(/^#\/device\/([^?]+)(?:\?(.*))?$/);
  const messages = hash.match(/^#\/messages(?:\?(.*))?$/);
  const message = hash.match(/^#\/message\/([0-9a-fA-F-]{36})$/);
  if (device) {
    const params = Object.fromEntries(new URLSearchParams(device[2] || ''));
    stop = devicePage(view, decodeURIComponent(device[1]), onAuthError, params);
  } else if (messages) {
    stop = messagesPage(view, onAuthError, Object.fromEntries(new URLSearchParams(messages[1] || '')));
  } else if (message) {
    stop = messagePage(view, message[1], onAuthError);
  } else {
    stop = fleetPage(view, onAuthError);
  }
  document.getElementById('main').focus({ preventScroll: true });
}

document.getElementById('login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  setToken(input.value.trim());
  input.value = '';
  route();
});
logout.addEventListener('click', () => {
  setToken('');
  showLogin('Signed out.');
});
window.addEventListener('hashchange', route);
route();
