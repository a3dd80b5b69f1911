// The Keyward console: one plain ES module, no build step, no framework. It renders
// screens from the management API's answers and holds no business rule: every
// decision (names, roles, permissions, lifecycle) is the API's, shown in its words.
// The DOM is built with createElement and textContent only, never from HTML strings,
// so no value from the API can become markup.

const app = document.getElementById('app');
const dialog = document.getElementById('dialog');

/** The logged-in session: username, CSRF token, environments (null: all). */
let session = null;
/** The environments the user may open, as slugs. */
let environments = [];

// ---------------------------------------------------------------- DOM helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function show(...nodes) {
  app.replaceChildren(...nodes);
}

let uid = 0;
function field(label, input, hint) {
  const id = input.id || `f${++uid}`;
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-field-error': input.name || '' });
  // An error shown for a value is stale once the value changes.
  input.addEventListener('input', () => {
    error.textContent = '';
    input.removeAttribute('aria-invalid');
  });
  return h('div', { class: 'field' }, h('label', { for: id }, label), hintEl, input, error);
}

function when(iso) {
  if (!iso) return 'Never';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function statusBadge(status) {
  return h('span', { class: `badge ${status === 'ACTIVE' ? 'ok' : 'off'}` }, status);
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session && method !== 'GET') headers['X-CSRF-Token'] = session.csrf_token;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, { title: 'Keyward could not be reached', detail: 'Keyward could not be reached. Check the connection and try again.' });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, data || { title: `Keyward answered ${response.status}` });
    if (response.status === 401 && session && !path.startsWith('/console/session')) {
      session = null;
      loginScreen('Your session has ended. Log in again.');
    }
    throw error;
  }
  return data;
}

const env = (slug) => `/api/v1/environments/${encodeURIComponent(slug)}`;

/** An API error in plain words. */
function describe(error) {
  if (!(error instanceof ApiError)) return `Something went wrong: ${error.message}`;
  const p = error.problem || {};
  if (error.status === 403) {
    return `You are not allowed to do this. ${p.detail || ''}`.trim();
  }
  if (error.status === 429) return 'Too many attempts. Wait a minute and try again.';
  if (error.status === 503) return 'Keyward is busy or its storage is unavailable. Try again shortly.';
  const parts = [p.title || 'The request failed'];
  if (p.detail && p.detail !== p.title) parts.push(p.detail);
  return parts.join(': ');
}

/** Shows an error in `region`, and each field error next to its field in `form`. */
function showError(region, error, form) {
  if (form) {
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  }
  const errors = error?.problem?.errors || [];
  let placed = 0;
  if (form) {
    for (const e of errors) {
      const name = String(e.field || '').split(/[.[]/)[0];
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        const slot = form.querySelector(`#${CSS.escape(input.id)}-error`);
        if (slot) { slot.textContent = e.message || e.detail || ''; placed++; }
      }
    }
  }
  const extra = errors.filter((_, i) => i >= placed).map((e) => `${e.field}: ${e.message}`);
  const list = extra.length && !form ? [h('ul', {}, extra.map((t) => h('li', {}, t)))] : [];
  region.replaceChildren(h('p', {}, describe(error)), ...list);
  region.hidden = false;
}

function alertRegion() {
  return h('div', { class: 'alert', role: 'alert', hidden: true });
}

// ---------------------------------------------------------------- dialogs

let dialogCleanup = null;

/** Opens the modal dialog with a title and content; `onClose` runs when it closes. */
function openDialog(title, content, onClose) {
  closeDialog();
  dialog.replaceChildren(h('h2', { id: 'dialog-title' }, title), ...content);
  dialogCleanup = onClose || null;
  dialog.showModal();
  const first = dialog.querySelector('[autofocus], input, select, textarea, button');
  if (first) first.focus();
}

function closeDialog() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener('close', () => {
  // Whatever was shown (a secret, a key) leaves the page with the dialog.
  dialog.replaceChildren();
  const cleanup = dialogCleanup;
  dialogCleanup = null;
  if (cleanup) cleanup();
});

/** A confirmation dialog; resolves true when confirmed. */
function confirmDialog(title, message, confirmLabel, danger = false) {
  return new Promise((resolve) => {
    let answered = false;
    const done = (value) => { answered = true; resolve(value); closeDialog(); };
    openDialog(title, [
      h('p', {}, message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => done(false), autofocus: true }, 'Cancel'),
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => done(true) }, confirmLabel)),
    ], () => { if (!answered) resolve(false); });
  });
}

function copyButton(label, getText) {
  const button = h('button', { type: 'button', class: 'secondary copy' }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(getText());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed: select the text and copy it';
    }
    setTimeout(() => { button.textContent = label; }, 2500);
  });
  return button;
}

/** Shows secrets once, with copy buttons and the warning; `onContinue` after closing. */
function showOnce(title, entries, warning, onContinue) {
  const rows = entries.map(([label, value, testid]) => {
    const id = `once-${testid}`;
    return h('div', { class: 'once' },
      h('span', { class: 'once-label', id: `${id}-label` }, label),
      h('code', { id, 'data-testid': testid, 'aria-labelledby': `${id}-label` }, value),
      copyButton(`Copy ${label}`, () => value));
  });
  openDialog(title, [
    ...rows,
    h('p', { class: 'warning', role: 'note' }, warning),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', onclick: closeDialog }, 'Continue')),
  ], onContinue);
}

// ---------------------------------------------------------------- session screens

function loginScreen(message) {
  closeDialog();
  const region = alertRegion();
  const username = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Log in to Keyward'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    region,
    field('Username', username),
    field('Password', password),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = 'Logging in…';
    try {
      session = await api('POST', '/console/session', { username: username.value, password: password.value });
      password.value = '';
      await start();
    } catch (error) {
      password.value = '';
      if (error.status === 401) {
        region.replaceChildren(h('p', {}, 'Wrong username or password.'));
        region.hidden = false;
      } else showError(region, error);
      button.disabled = false;
      button.textContent = 'Log in';
      password.focus();
    }
  });
  show(h('main', { class: 'center' }, form));
  username.focus();
}

function passwordScreen() {
  const region = alertRegion();
  const current = h('input', { name: 'current_password', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { name: 'new_password', type: 'password', autocomplete: 'new-password', required: true });
  const again = h('input', { name: 'confirm', type: 'password', autocomplete: 'new-password', required: true });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'pw-title' },
    h('h1', { id: 'pw-title' }, 'Choose your password'),
    h('p', {}, `Welcome, ${session.username}. You logged in with a one-time password: choose your own before you go on.`),
    region,
    field('Current password', current),
    field('New password', next, 'At least 12 characters.'),
    field('New password again', again),
    h('button', { type: 'submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    if (next.value !== again.value) {
      region.replaceChildren(h('p', {}, 'The two new passwords differ.'));
      region.hidden = false;
      return;
    }
    try {
      await api('POST', '/console/session/password', { current_password: current.value, new_password: next.value });
      session = await api('GET', '/console/session');
      await start();
    } catch (error) {
      showError(region, error, form);
    }
  });
  show(h('main', { class: 'center' }, form));
  current.focus();
}

async function logout() {
  try { await api('DELETE', '/console/session'); } catch { /* the session may be gone already */ }
  session = null;
  location.hash = '';
  loginScreen('You are logged out.');
}

// ---------------------------------------------------------------- layout and routing

function currentRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  return parts;
}

function go(...parts) {
  location.hash = '#/' + parts.map(encodeURIComponent).join('/');
}

function layout(envSlug, section, ...content) {
  const switcher = h('select', { id: 'env-switcher', name: 'environment' },
    environments.map((slug) => h('option', { value: slug, selected: slug === envSlug }, slug)));
  switcher.addEventListener('change', () => go(switcher.value, section === 'users' ? 'apps' : section));
  const link = (label, target, key) => h('a', { href: target, 'aria-current': section === key ? 'page' : null }, label);
  const e = envSlug || environments[0] || 'default';
  const header = h('header', { class: 'top' },
    h('div', { class: 'brand' }, 'Keyward'),
    h('div', { class: 'env' }, h('label', { for: 'env-switcher' }, 'Environment'), switcher),
    h('nav', { 'aria-label': 'Sections' },
      link('Client Apps', `#/${e}/apps`, 'apps'),
      link('Roles', `#/${e}/roles`, 'roles'),
      link('Users', '#/users', 'users'),
      link('Identity provider', `#/${e}/idp`, 'idp'),
      link('Audit log', `#/${e}/audit`, 'audit')),
    h('div', { class: 'me' },
      h('span', { class: 'username' }, session.username),
      h('button', { type: 'button', class: 'link', onclick: logout }, 'Log out')));
  show(header, h('main', { id: 'main' }, ...content));
}

function loading(what) {
  return h('p', { class: 'state', role: 'status' }, `Loading ${what}…`);
}

async function route() {
  if (!session) return;
  const parts = currentRoute();
  if (parts[0] === 'users') return usersScreen();
  const slug = parts[0];
  if (!slug || !environments.includes(slug)) return go(environments[0] || 'default', 'apps');
  const section = parts[1] || 'apps';
  if (section === 'apps' && parts[2] === 'new') return addAppScreen(slug);
  if (section === 'apps' && parts[2]) return appScreen(slug, parts[2]);
  if (section === 'apps') return appsScreen(slug);
  if (section === 'roles') return rolesScreen(slug);
  if (section === 'idp') return idpScreen(slug);
  if (section === 'audit') return auditScreen(slug);
  return go(slug, 'apps');
}

window.addEventListener('hashchange', () => { route(); });

async function start() {
  if (session.must_change_password) return passwordScreen();
  if (session.environments) {
    environments = session.environments;
  } else {
    try {
      const list = await api('GET', '/api/v1/environments?limit=200');
      // `default` first, then by name: the environment a newcomer expects to land in.
      environments = list.items.map((e) => e.slug)
        .sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b)));
    } catch {
      environments = ['default'];
    }
  }
  if (environments.length === 0) {
    show(h('main', { class: 'center' }, h('div', { class: 'card narrow' },
      h('h1', {}, 'No environment'),
      h('p', {}, 'You hold no role in any environment yet. Ask a Super Admin to give you one.'),
      h('button', { type: 'button', class: 'secondary', onclick: logout }, 'Log out'))));
    return;
  }
  await route();
}

// ---------------------------------------------------------------- Client Apps

async function appsScreen(slug) {
  let order = 'desc';
  let search = '';
  let cursor = null;
  const region = alertRegion();
  const searchInput = h('input', { type: 'search', name: 'search', placeholder: 'Search for name or client ID', 'aria-label': 'Search for name or client ID' });
  const body = h('div', { class: 'list' }, loading('client apps'));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more');
  const sortButton = h('button', { type: 'button', class: 'sort', 'aria-label': 'Sort by Created at' });

  const table = h('table', { class: 'apps' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Client ID'),
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col', 'aria-sort': 'descending', id: 'created-col' }, sortButton),
      h('th', { scope: 'col' }, 'Last used at'))),
    h('tbody'));

  const renderSort = () => {
    sortButton.textContent = `Created at ${order === 'desc' ? '↓' : '↑'}`;
    table.querySelector('#created-col').setAttribute('aria-sort', order === 'desc' ? 'descending' : 'ascending');
  };

  const row = (a) => h('tr', {},
    h('td', { 'data-label': 'Name' }, h('a', { href: `#/${slug}/apps/${encodeURIComponent(a.client_id)}` }, a.name)),
    h('td', { 'data-label': 'Client ID' }, h('code', {}, a.client_id)),
    h('td', { 'data-label': 'Status' }, statusBadge(a.status)),
    h('td', { 'data-label': 'Created at' }, when(a.created_at)),
    h('td', { 'data-label': 'Last used at' }, when(a.last_used_at)));

  let generation = 0;
  const load = async (append) => {
    const mine = ++generation;
    region.hidden = true;
    if (!append) body.replaceChildren(loading('client apps'));
    const q = new URLSearchParams({ sort: 'created_at', order, limit: '50' });
    if (search) q.set('search', search);
    if (append && cursor) q.set('cursor', cursor);
    try {
      const page = await api('GET', `${env(slug)}/client-apps?${q}`);
      if (mine !== generation) return;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const tbody = table.querySelector('tbody');
      if (!append) tbody.replaceChildren();
      tbody.append(...page.items.map(row));
      if (tbody.children.length === 0) {
        body.replaceChildren(h('p', { class: 'empty' }, search
          ? `No client app matches “${search}”.`
          : 'No client apps yet. Add one to give a machine its own credentials.'));
      } else {
        body.replaceChildren(table);
      }
    } catch (error) {
      if (mine !== generation) return;
      body.replaceChildren();
      showError(region, error);
    }
  };

  let timer = null;
  searchInput.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { search = searchInput.value.trim(); cursor = null; load(false); }, 250);
  });
  sortButton.addEventListener('click', () => { order = order === 'desc' ? 'asc' : 'desc'; renderSort(); cursor = null; load(false); });
  more.addEventListener('click', () => load(true));
  renderSort();

  layout(slug, 'apps',
    h('div', { class: 'title-row' },
      h('h1', {}, 'Client Apps'),
      h('a', { class: 'button primary', href: `#/${slug}/apps/new` }, 'Add Client App')),
    h('div', { class: 'toolbar' }, searchInput),
    region, body, more);
  await load(false);
}

async function rolesOf(slug) {
  const page = await api('GET', `${env(slug)}/roles?limit=200`);
  return page.items.map((r) => r.name);
}

/** An "Assign Roles" picker: a select of the environment's roles, Add, and the chosen
 * roles each with Remove. `onChange(list)` after each change. */
function rolePicker(available, chosen, onChange, label = 'Assign Roles') {
  const list = h('ul', { class: 'chips', 'aria-label': 'Assigned roles' });
  const select = h('select', { name: 'role-choice' });
  const add = h('button', { type: 'button', class: 'secondary' }, 'Add');
  const render = () => {
    select.replaceChildren(h('option', { value: '' }, 'Choose a role…'),
      ...available.filter((r) => !chosen.includes(r)).map((r) => h('option', { value: r }, r)));
    list.replaceChildren(...(chosen.length ? chosen.map((r) => h('li', {},
      h('span', {}, r),
      h('button', { type: 'button', class: 'link', 'aria-label': `Remove role ${r}`, onclick: async () => {
        const next = chosen.filter((x) => x !== r);
        if (await onChange(next) !== false) { chosen = next; render(); }
      } }, 'Remove'))) : [h('li', { class: 'none' }, 'No roles: the app can get a token but is allowed nothing.')]));
  };
  add.addEventListener('click', async () => {
    if (!select.value) return;
    const next = [...chosen, select.value];
    if (await onChange(next) !== false) { chosen = next; render(); }
  });
  render();
  const id = `picker${++uid}`;
  select.id = id;
  return h('fieldset', { class: 'roles' }, h('legend', {}, label),
    h('div', { class: 'inline' }, h('label', { for: id, class: 'visually-hidden' }, 'Role to add'), select, add), list);
}

async function addAppScreen(slug) {
  layout(slug, 'apps', loading('roles'));
  let available = [];
  const region = alertRegion();
  try { available = await rolesOf(slug); } catch (error) { showError(region, error); }
  let chosen = [];
  const name = h('input', { name: 'name', required: true, autocomplete: 'off', maxlength: 128 });
  const form = h('form', { class: 'card', 'aria-labelledby': 'add-title' },
    h('h1', { id: 'add-title' }, 'Add Client App'),
    region,
    field('Name', name, '3 to 128 characters: letters, digits, spaces and + = , . @ -, with no space at either end. Unique in the environment; it cannot be changed later.'),
    rolePicker(available, chosen, (next) => { chosen = next; }),
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: `#/${slug}/apps` }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create App')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    const roles = chosen.length ? chosen.join(', ') : 'no roles';
    const ok = await confirmDialog('Confirm', `Create the client app “${name.value}” in ${slug} with ${roles}?`, 'Create');
    if (!ok) return;
    try {
      const created = await api('POST', `${env(slug)}/client-apps`, { name: name.value, roles: chosen });
      for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      const clientId = created.client_id;
      showOnce('Client app created', [
        ['App Client ID', clientId, 'client-id'],
        ['App Client Secret', created.client_secret, 'client-secret'],
      ], 'Copy the App Client Secret now and keep it safe: it is shown only this once and cannot be shown again. If it is lost, rotate the secret.',
      () => go(slug, 'apps', clientId));
    } catch (error) {
      showError(region, error, form);
    }
  });
  layout(slug, 'apps', form);
  name.focus();
}

async function appScreen(slug, clientId) {
  layout(slug, 'apps', loading('the client app'));
  const path = `${env(slug)}/client-apps/${encodeURIComponent(clientId)}`;
  let appData;
  try {
    appData = await api('GET', path);
  } catch (error) {
    const region = alertRegion();
    showError(region, error);
    layout(slug, 'apps', h('p', {}, h('a', { href: `#/${slug}/apps` }, '← Client Apps')), region);
    return;
  }
  const region = alertRegion();
  const refresh = () => appScreen(slug, clientId);

  const act = async (title, message, label, method, suffix, danger, after) => {
    const ok = await confirmDialog(title, message, label, danger);
    if (!ok) return;
    try {
      await api(method, path + suffix);
      after();
    } catch (error) {
      showError(region, error);
    }
  };
  const menuItems = [];
  if (appData.status === 'ACTIVE') {
    menuItems.push(['Deactivate App', () => act('Deactivate App', `Deactivate “${appData.name}”? Its tokens and API keys stop working at once, even those not yet expired.`, 'Deactivate', 'POST', '/deactivate', true, refresh)]);
  } else {
    menuItems.push(['Activate App', () => act('Activate App', `Activate “${appData.name}”? Its tokens still inside their lifetime and its API keys work again.`, 'Activate', 'POST', '/activate', false, refresh)]);
    menuItems.push(['Delete App', () => act('Delete App', `Delete “${appData.name}”? This cannot be undone: its secret, API keys and roles are removed, and its tokens fail forever.`, 'Delete', 'DELETE', '', true, () => go(slug, 'apps'))]);
  }
  const menu = actionsMenu(menuItems);

  const info = h('section', { id: 'tab-info', role: 'tabpanel', 'aria-labelledby': 'tab-info-button' },
    h('dl', { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, appData.name),
      h('dt', {}, 'Client ID'), h('dd', {}, h('code', {}, appData.client_id)),
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(appData.status)),
      h('dt', {}, 'Created at'), h('dd', {}, when(appData.created_at)),
      h('dt', {}, 'Last used at'), h('dd', {}, when(appData.last_used_at)),
      h('dt', {}, 'External client ID'), h('dd', {}, appData.external_client_id || 'None')),
    await apiKeysSection(path),
    await secretsSection(path));

  let available = [];
  try { available = await rolesOf(slug); } catch { available = appData.roles; }
  const rolesRegion = alertRegion();
  const roles = h('section', { id: 'tab-roles', role: 'tabpanel', 'aria-labelledby': 'tab-roles-button', hidden: true },
    rolesRegion,
    rolePicker(available, appData.roles, async (next) => {
      rolesRegion.hidden = true;
      try {
        await api('PUT', `${path}/roles`, { roles: next });
        return true;
      } catch (error) {
        showError(rolesRegion, error);
        return false;
      }
    }),
    h('p', { class: 'hint' }, 'Role changes apply to the next call the app makes, with tokens it already holds.'));

  const tabs = tabList([['Information', info], ['Roles', roles]]);
  layout(slug, 'apps',
    h('p', {}, h('a', { href: `#/${slug}/apps` }, '← Client Apps')),
    h('div', { class: 'title-row' }, h('h1', {}, appData.name, ' ', statusBadge(appData.status)), menu),
    region, tabs, info, roles);
}

function tabList(tabs) {
  const buttons = tabs.map(([label, panel], i) => {
    const key = panel.id;
    return h('button', { type: 'button', role: 'tab', id: `${key}-button`, 'aria-controls': key, 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1' }, label);
  });
  const select = (i) => {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', i === j ? 'true' : 'false');
      b.tabIndex = i === j ? 0 : -1;
      tabs[j][1].hidden = i !== j;
    });
    buttons[i].focus();
  };
  buttons.forEach((b, i) => {
    b.addEventListener('click', () => select(i));
    b.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight') select((i + 1) % buttons.length);
      if (e.key === 'ArrowLeft') select((i - 1 + buttons.length) % buttons.length);
    });
  });
  return h('div', { role: 'tablist', class: 'tabs', 'aria-label': 'Client app' }, buttons);
}

/** The ⋮ actions menu: a button that opens a list of actions; Escape closes it. */
function actionsMenu(items) {
  const list = h('ul', { role: 'menu', class: 'menu', hidden: true, id: `menu${++uid}` });
  const button = h('button', { type: 'button', class: 'kebab', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': list.id, 'aria-label': 'Actions' }, '⋮');
  const close = () => { list.hidden = true; button.setAttribute('aria-expanded', 'false'); };
  const entries = items.map(([label, run]) => h('li', { role: 'none' },
    h('button', { type: 'button', role: 'menuitem', onclick: () => { close(); run(); } }, label)));
  list.append(...entries);
  button.addEventListener('click', () => {
    const opening = list.hidden;
    list.hidden = !opening;
    button.setAttribute('aria-expanded', String(opening));
    if (opening) list.querySelector('button')?.focus();
  });
  list.addEventListener('keydown', (e) => {
    const all = [...list.querySelectorAll('button')];
    const i = all.indexOf(document.activeElement);
    if (e.key === 'Escape') { close(); button.focus(); }
    if (e.key === 'ArrowDown') { e.preventDefault(); all[(i + 1) % all.length].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); all[(i - 1 + all.length) % all.length].focus(); }
  });
  return h('div', { class: 'menu-wrap' }, button, list);
}

async function apiKeysSection(path) {
  const region = alertRegion();
  const section = h('section', { class: 'sub', 'aria-labelledby': 'keys-title' }, h('h2', { id: 'keys-title' }, 'API keys'), region);
  const list = h('div');
  const render = async () => {
    try {
      const keys = await api('GET', `${path}/api-keys`);
      const items = keys.items || [];
      list.replaceChildren(items.length ? h('table', { class: 'compact' },
        h('thead', {}, h('tr', {}, ['Name', 'Created at', 'Expires at', 'Last used at', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map((k) => h('tr', {},
          h('td', { 'data-label': 'Name' }, k.name),
          h('td', { 'data-label': 'Created at' }, when(k.created_at)),
          h('td', { 'data-label': 'Expires at' }, k.expires_at ? when(k.expires_at) : 'Never'),
          h('td', { 'data-label': 'Last used at' }, when(k.last_used_at)),
          h('td', {}, h('button', { type: 'button', class: 'link danger', 'aria-label': `Delete API key ${k.name}`, onclick: async () => {
            if (!await confirmDialog('Delete API key', `Delete the API key “${k.name}”? It stops working from the next call.`, 'Delete', true)) return;
            try { await api('DELETE', `${path}/api-keys/${encodeURIComponent(k.id)}`); render(); } catch (error) { showError(region, error); }
          } }, 'Delete')))))) : h('p', { class: 'empty' }, 'No API keys.'));
    } catch (error) {
      showError(region, error);
    }
  };
  const name = h('input', { name: 'name', required: true, maxlength: 64 });
  const form = h('form', { class: 'inline-form' }, field('New API key name', name), h('button', { type: 'submit', class: 'secondary' }, 'Create API key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api('POST', `${path}/api-keys`, { name: name.value });
      name.value = '';
      showOnce('API key created', [['API key', created.api_key, 'api-key']],
        'Copy the API key now: it is shown only this once and cannot be shown again.', render);
    } catch (error) {
      showError(region, error, form);
    }
  });
  await render();
  section.append(list, form);
  return section;
}

async function secretsSection(path) {
  const region = alertRegion();
  const section = h('section', { class: 'sub', 'aria-labelledby': 'secrets-title' }, h('h2', { id: 'secrets-title' }, 'Secrets'), region);
  const list = h('div');
  const render = async () => {
    try {
      const secrets = await api('GET', `${path}/secrets`);
      list.replaceChildren(h('ul', { class: 'plain' }, secrets.items.map((s) => h('li', {},
        s.expires_at ? `Previous secret, created ${when(s.created_at)}, works until ${when(s.expires_at)}; last used ${when(s.last_used_at)}. `
          : `Current secret, created ${when(s.created_at)}; last used ${when(s.last_used_at)}. `,
        s.expires_at ? h('button', { type: 'button', class: 'link danger', onclick: async () => {
          if (!await confirmDialog('End previous secret', 'End the previous secret now? Clients still using it get 401 from their next token request.', 'End now', true)) return;
          try { await api('DELETE', `${path}/secrets/${encodeURIComponent(s.id)}`); render(); } catch (error) { showError(region, error); }
        } }, 'End now') : null))));
    } catch (error) {
      showError(region, error);
    }
  };
  const rotate = h('button', { type: 'button', class: 'secondary' }, 'Rotate secret');
  rotate.addEventListener('click', async () => {
    if (!await confirmDialog('Rotate secret', 'Create a new secret? The current one keeps working for 24 hours, then stops.', 'Rotate')) return;
    try {
      const rotated = await api('POST', `${path}/secrets`, {});
      showOnce('New secret', [['App Client Secret', rotated.client_secret, 'client-secret']],
        `Copy the new App Client Secret now: it cannot be shown again. The previous one works until ${when(rotated.previous_secret_expires_at)}.`, render);
    } catch (error) {
      showError(region, error);
    }
  });
  await render();
  section.append(list, rotate);
  return section;
}

// ---------------------------------------------------------------- Roles

async function rolesScreen(slug) {
  layout(slug, 'roles', loading('roles'));
  const region = alertRegion();
  const body = h('div');
  const splitPermissions = (text) => text.split(/[\s,]+/).filter(Boolean);
  const render = async () => {
    try {
      const page = await api('GET', `${env(slug)}/roles?limit=200`);
      body.replaceChildren(h('table', { class: 'roles-table' },
        h('thead', {}, h('tr', {}, ['Name', 'Permissions', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, page.items.map((r) => h('tr', {},
          h('td', { 'data-label': 'Name' }, r.name, r.builtin ? h('span', { class: 'badge' }, 'Built-in') : null),
          h('td', { 'data-label': 'Permissions' }, r.permissions.length ? r.permissions.map((p) => h('code', { class: 'perm' }, p)) : 'None'),
          h('td', {}, r.builtin ? null : [
            h('button', { type: 'button', class: 'link', 'aria-label': `Edit permissions of ${r.name}`, onclick: () => editRole(r) }, 'Edit permissions'),
            h('button', { type: 'button', class: 'link danger', 'aria-label': `Delete role ${r.name}`, onclick: () => deleteRole(r) }, 'Delete'),
          ]))))));
    } catch (error) {
      body.replaceChildren();
      showError(region, error);
    }
  };
  const editRole = (r) => {
    const text = h('textarea', { name: 'permissions', rows: 4 }, r.permissions.join('\n'));
    const dialogRegion = alertRegion();
    const form = h('form', {}, dialogRegion,
      field('Permissions', text, 'One per line or separated by spaces, as resource:action or resource:*.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: closeDialog }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Save')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('PUT', `${env(slug)}/roles/${encodeURIComponent(r.name)}`, { permissions: splitPermissions(text.value) });
        closeDialog();
        render();
      } catch (error) {
        showError(dialogRegion, error, form);
      }
    });
    openDialog(`Edit ${r.name}`, [form]);
  };
  const deleteRole = async (r) => {
    if (!await confirmDialog('Delete role', `Delete the role “${r.name}”? Apps and users holding it lose its permissions at once.`, 'Delete', true)) return;
    try {
      await api('DELETE', `${env(slug)}/roles/${encodeURIComponent(r.name)}`);
      render();
    } catch (error) {
      showError(region, error);
    }
  };
  const name = h('input', { name: 'name', required: true, maxlength: 64 });
  const perms = h('textarea', { name: 'permissions', rows: 3 });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-role' },
    h('h2', { id: 'new-role' }, 'Create role'),
    field('Name', name, '1 to 64 characters: letters, digits, spaces and - _ .'),
    field('Permissions', perms, 'One per line or separated by spaces, as resource:action (orders:read) or resource:* .'),
    h('button', { type: 'submit', class: 'primary' }, 'Create role'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    try {
      await api('POST', `${env(slug)}/roles`, { name: name.value, permissions: splitPermissions(perms.value) });
      name.value = '';
      perms.value = '';
      for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
      render();
    } catch (error) {
      showError(region, error, form);
    }
  });
  layout(slug, 'roles', h('h1', {}, 'Roles'), region, body, form);
  await render();
}

// ---------------------------------------------------------------- Users

async function usersScreen() {
  const slug = environments[0];
  layout(null, 'users', loading('users'));
  const region = alertRegion();
  const body = h('div');
  const describeRoles = (u) => u.role ? u.role
    : (u.roles.length ? u.roles.map((e) => `${e.environment}: ${e.roles.join(', ')}`).join('; ') : 'No roles');
  const render = async () => {
    try {
      const page = await api('GET', '/api/v1/users?limit=200');
      body.replaceChildren(page.items.length ? h('table', { class: 'users' },
        h('thead', {}, h('tr', {}, ['Username', 'Roles', 'Status', 'Created at', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, page.items.map((u) => h('tr', {},
          h('td', { 'data-label': 'Username' }, u.username),
          h('td', { 'data-label': 'Roles' }, describeRoles(u)),
          h('td', { 'data-label': 'Status' }, statusBadge(u.status)),
          h('td', { 'data-label': 'Created at' }, when(u.created_at)),
          h('td', {}, u.username === session.username ? h('span', { class: 'hint' }, 'You') : [
            u.status === 'ACTIVE'
              ? h('button', { type: 'button', class: 'link', 'aria-label': `Deactivate user ${u.username}`, onclick: () => userAction(u, 'deactivate') }, 'Deactivate')
              : h('button', { type: 'button', class: 'link', 'aria-label': `Activate user ${u.username}`, onclick: () => userAction(u, 'activate') }, 'Activate'),
            h('button', { type: 'button', class: 'link danger', 'aria-label': `Delete user ${u.username}`, onclick: () => userAction(u, 'delete') }, 'Delete'),
          ]))))) : h('p', { class: 'empty' }, 'No users.'));
    } catch (error) {
      body.replaceChildren();
      showError(region, error);
    }
  };
  const userAction = async (u, what) => {
    const texts = {
      deactivate: ['Deactivate user', `Deactivate “${u.username}”? Their console sessions and credential stop at once.`, 'Deactivate', true],
      activate: ['Activate user', `Activate “${u.username}”?`, 'Activate', false],
      delete: ['Delete user', `Delete “${u.username}”? This cannot be undone.`, 'Delete', true],
    }[what];
    if (!await confirmDialog(...texts)) return;
    try {
      const path = `/api/v1/users/${encodeURIComponent(u.username)}`;
      if (what === 'delete') await api('DELETE', path); else await api('POST', `${path}/${what}`);
      render();
    } catch (error) {
      showError(region, error);
    }
  };
  let available = [];
  try { available = slug ? await rolesOf(slug) : []; } catch { available = []; }
  const username = h('input', { name: 'username', required: true, autocomplete: 'off' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const kind = h('select', { name: 'role' },
    h('option', { value: 'Admin' }, 'Admin (every environment)'),
    h('option', { value: 'Super Admin' }, 'Super Admin (everything)'),
    h('option', { value: '' }, `Roles in ${slug || 'an environment'}`));
  let chosen = [];
  const picker = rolePicker(available, chosen, (next) => { chosen = next; }, `Roles in ${slug}`);
  picker.hidden = true;
  kind.addEventListener('change', () => { picker.hidden = kind.value !== ''; });
  const form = h('form', { class: 'card', 'aria-labelledby': 'new-user' },
    h('h2', { id: 'new-user' }, 'Add user'),
    field('Username', username, '1 to 64 characters: letters, digits and . _ - @'),
    field('Password', password, 'At least 12 characters.'),
    field('Role', kind),
    picker,
    h('button', { type: 'submit', class: 'primary' }, 'Add user'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    const request = { username: username.value, password: password.value };
    if (kind.value) request.role = kind.value; else request.roles = [{ environment: slug, roles: chosen }];
    try {
      await api('POST', '/api/v1/users', request);
      username.value = '';
      password.value = '';
      render();
    } catch (error) {
      showError(region, error, form);
    }
  });
  layout(null, 'users', h('h1', {}, 'Users'), region, body, form);
  await render();
}

// ---------------------------------------------------------------- Audit log

/** The audit log, newest first: every change, who made it, from where. A user with a
 * global role sees every environment's entries (and Keyward-wide ones); a user with
 * roles per environment sees the environment chosen in the switcher. */
async function auditScreen(slug) {
  let cursor = null;
  const region = alertRegion();
  const body = h('div', { class: 'list' }, loading('the audit log'));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more');
  const table = h('table', { class: 'audit' },
    h('thead', {}, h('tr', {}, ['Time', 'Actor', 'Action', 'Environment', 'Subject', 'Address']
      .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody'));
  const row = (e) => h('tr', {},
    h('td', { 'data-label': 'Time' }, h('time', { datetime: e.at }, when(e.at))),
    h('td', { 'data-label': 'Actor' }, `${e.actor.name} (${e.actor.kind.replace('_', ' ')})`),
    h('td', { 'data-label': 'Action' }, h('code', {}, e.action)),
    h('td', { 'data-label': 'Environment' }, e.environment || '—'),
    h('td', { 'data-label': 'Subject' }, h('code', {}, e.subject)),
    h('td', { 'data-label': 'Address' }, e.address || '—'));
  const load = async (append) => {
    region.hidden = true;
    const q = new URLSearchParams({ limit: '50' });
    if (session.environments) q.set('environment', slug);
    if (append && cursor) q.set('cursor', cursor);
    try {
      const page = await api('GET', `/api/v1/audit?${q}`);
      cursor = page.next_cursor;
      more.hidden = !cursor;
      const tbody = table.querySelector('tbody');
      if (!append) tbody.replaceChildren();
      tbody.append(...page.items.map(row));
      body.replaceChildren(tbody.children.length ? table : h('p', { class: 'empty' }, 'No changes recorded yet.'));
    } catch (error) {
      body.replaceChildren();
      showError(region, error);
    }
  };
  more.addEventListener('click', () => load(true));
  layout(slug, 'audit', h('h1', {}, 'Audit log'), region, body, more);
  await load(false);
}

// ---------------------------------------------------------------- Identity provider

async function idpScreen(slug) {
  layout(slug, 'idp', loading('the identity provider'));
  const region = alertRegion();
  const path = `${env(slug)}/identity-provider`;
  let current = null;
  try {
    current = await api('GET', path);
  } catch (error) {
    if (error.status !== 404) showError(region, error);
  }
  const found = h('div', { id: 'idp-current' });
  const renderCurrent = () => {
    found.replaceChildren(current ? h('dl', { class: 'facts' },
      h('dt', {}, 'Issuer'), h('dd', {}, current.issuer || 'None (entered by hand)'),
      h('dt', {}, 'Token endpoint'), h('dd', {}, h('code', {}, current.token_endpoint)),
      h('dt', {}, 'JWKS URI'), h('dd', {}, current.jwks_uri ? h('code', {}, current.jwks_uri) : 'None'),
      h('dt', {}, 'Audience'), h('dd', {}, current.audience || 'Not checked'),
      h('dt', {}, 'Client ID claims'), h('dd', {}, current.client_id_claims.join(', ')),
      h('dt', {}, 'Enabled'), h('dd', {}, current.enabled ? 'Yes' : 'No'))
      : h('p', { class: 'empty' }, 'No identity provider is set for this environment.'));
  };
  renderCurrent();
  const mode = h('select', { name: 'mode' },
    h('option', { value: 'issuer' }, 'Discover from the issuer'),
    h('option', { value: 'manual' }, 'Enter the token endpoint by hand'));
  const issuer = h('input', { name: 'issuer', type: 'url', value: current?.issuer || '' });
  const tokenEndpoint = h('input', { name: 'token_endpoint', type: 'url', value: current && !current.issuer ? current.token_endpoint : '' });
  const jwks = h('input', { name: 'jwks_uri', type: 'url', value: current && !current.issuer ? (current.jwks_uri || '') : '' });
  const audience = h('input', { name: 'audience', value: current?.audience || '' });
  const scope = h('input', { name: 'scope', value: current?.scope || '' });
  const enabled = h('input', { name: 'enabled', type: 'checkbox', checked: current ? current.enabled : true });
  const issuerField = field('Issuer URL', issuer, 'Keyward reads {issuer}/.well-known/openid-configuration, then /.well-known/oauth-authorization-server.');
  const manualFields = h('div', {}, field('Token endpoint', tokenEndpoint), field('JWKS URI (optional)', jwks, 'Needed to accept the provider\'s own access tokens.'));
  if (current && !current.issuer) mode.value = 'manual';
  const sync = () => { issuerField.hidden = mode.value !== 'issuer'; manualFields.hidden = mode.value === 'issuer'; };
  mode.addEventListener('change', sync);
  sync();
  const form = h('form', { class: 'card', 'aria-labelledby': 'idp-form' },
    h('h2', { id: 'idp-form' }, current ? 'Change settings' : 'Set up'),
    field('How to find the endpoints', mode), issuerField, manualFields,
    field('Audience (optional)', audience, 'The aud external tokens must carry.'),
    field('Scope (optional)', scope, 'Sent upstream when Keyward brokers a client credentials request.'),
    h('div', { class: 'field check' }, enabled, h('label', { for: (enabled.id = `f${++uid}`) }, 'Enabled')),
    h('div', { class: 'actions' },
      current ? h('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!await confirmDialog('Remove identity provider', 'Remove the identity provider? Brokered requests and its tokens are refused from then on.', 'Remove', true)) return;
        try { await api('DELETE', path); idpScreen(slug); } catch (error) { showError(region, error); }
      } }, 'Remove') : null,
      h('button', { type: 'submit', class: 'primary' }, 'Save')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    region.hidden = true;
    const request = { enabled: enabled.checked };
    if (mode.value === 'issuer') request.issuer = issuer.value;
    else {
      request.token_endpoint = tokenEndpoint.value;
      if (jwks.value) request.jwks_uri = jwks.value;
    }
    if (audience.value) request.audience = audience.value;
    if (scope.value) request.scope = scope.value;
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = 'Saving…';
    try {
      current = await api('PUT', path, request);
      renderCurrent();
      region.replaceChildren(h('p', {}, 'Saved.'));
      region.className = 'notice';
      region.hidden = false;
    } catch (error) {
      region.className = 'alert';
      showError(region, error, form);
    } finally {
      button.disabled = false;
      button.textContent = 'Save';
    }
  });
  layout(slug, 'idp', h('h1', {}, 'Identity provider'), region, found, form);
}

// ---------------------------------------------------------------- start

(async () => {
  try {
    session = await api('GET', '/console/session');
    await start();
  } catch (error) {
    session = null;
    if (error.status === 401) loginScreen();
    else loginScreen(describe(error));
  }
})();
