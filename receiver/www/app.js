// The dashboard's entry: sign-in, and the hash routes #/ (fleet) and #/device/{id}.
import { AuthError, setToken, token } from './api.js';
import { devicePage } from './device.js';
import { fleetPage } from './fleet.js';

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
  if (device) {
    const params = Object.fromEntries(new URLSearchParams(device[2] || ''));
    stop = devicePage(view, decodeURIComponent(device[1]), onAuthError, params);
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
