// The admin console at /admin: the catalog's titles (drafts included), creating and editing
// their metadata, attaching an asset (uploaded here with tus, or ingested already),
// publishing and unpublishing; the users and their roles (users.js); the recommender's model
// and retraining (recsys.js).
import '../common/styles.css';
import { ApiError, Session, createApi } from '../common/api.js';
import { clear, empty, errorBox, field, focusMain, h, loading, toast } from '../common/dom.js';
import { dateTime, runtime } from '../common/format.js';
import { recsysPage } from './recsys.js';
import { uploadPanel } from './upload.js';
import { usersPage } from './users.js';

const session = new Session('admin');
const api = createApi(session);
const root = document.getElementById('app');
let seq = 0;
let cleanup = null;

function navigate(to, replace = false) {
  if (replace) history.replaceState(null, '', to); else history.pushState(null, '', to);
  render();
}
window.addEventListener('popstate', render);
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href^="/admin"]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
session.onChange(() => { if (!session.signedIn) render(); });

function shell(...content) {
  const main = h('main', { id: 'main', class: 'admin-main', tabindex: '-1' }, content);
  const path = location.pathname;
  clear(root, h('div', { class: 'admin' },
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('aside', { class: 'sidebar' },
      h('a', { class: 'brand', href: '/admin' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▶'), 'Kino ', h('span', { class: 'badge' }, 'Admin')),
      h('nav', { 'aria-label': 'Admin' },
        h('a', { href: '/admin', 'aria-current': path === '/admin' || path === '/admin/' ? 'page' : null }, 'Titles'),
        h('a', { href: '/admin/titles/new', 'aria-current': path === '/admin/titles/new' ? 'page' : null }, 'New title'),
        h('a', { href: '/admin/users', 'aria-current': path.startsWith('/admin/users') ? 'page' : null }, 'Users'),
        h('a', { href: '/admin/recommendations', 'aria-current': path.startsWith('/admin/recommendations') ? 'page' : null }, 'Recommendations')),
      h('div', { class: 'sidebar-foot' },
        h('p', { class: 'muted small' }, session.user?.email || ''),
        h('button', { class: 'btn small', type: 'button', onclick: () => api.signOut() }, 'Sign out'))),
    main));
  focusMain(main);
  return main;
}

async function render() {
  const my = ++seq;
  cleanup?.();
  cleanup = null;
  const live = () => my === seq;
  if (!session.signedIn) return signIn();
  if (session.user?.role !== 'admin') {
    return shell(h('section', { class: 'page narrow', role: 'alert' }, h('h1', {}, 'Administrators only'),
      h('p', {}, `${session.user?.email} is a ${session.user?.role} account. Sign in with an administrator's account.`),
      h('button', { class: 'btn', type: 'button', onclick: () => api.signOut() }, 'Sign out')));
  }
  const path = location.pathname.replace(/\/+$/, '');
  let m;
  if (path === '/admin') return titlesPage(live);
  if (path === '/admin/titles/new') return editPage(null, live);
  if ((m = /^\/admin\/titles\/([0-9a-f]{24})$/.exec(path))) return editPage(m[1], live);
  const ctx = { shell, api, session, navigate, live, render, onLeave: (fn) => { cleanup = fn; } };
  if (path === '/admin/users') return usersPage(ctx);
  if (path === '/admin/recommendations') return recsysPage(ctx);
  shell(h('section', { class: 'page' }, h('h1', {}, 'Page not found'), h('a', { href: '/admin' }, 'Back to the titles')));
}

function signIn() {
  const email = h('input', { type: 'email', required: true, autocomplete: 'username' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'current-password' });
  const status = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary wide', type: 'submit' }, 'Sign in');
  clear(root, h('main', { id: 'main', class: 'main main-auth' }, h('div', { class: 'auth' },
    h('p', { class: 'brand big' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▶'), 'Kino ', h('span', { class: 'badge' }, 'Admin')),
    h('form', {
      class: 'auth-form',
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        status.hidden = true;
        try {
          const user = await api.signIn(email.value.trim(), password.value);
          if (user.role !== 'admin') toast(`${user.email} is not an administrator`, 'error');
          render();
        } catch (err) {
          status.textContent = err.code === 'invalid_credentials' ? 'That email and password do not match an account.' : err.message;
          status.hidden = false;
          submit.disabled = false;
          password.focus();
        }
      },
    }, h('h1', {}, 'Sign in to the admin console'), field('Email', email), field('Password', password), status, submit))));
  email.focus();
}

// ---- the titles ----
async function titlesPage(live) {
  const q = new URLSearchParams(location.search).get('q') || '';
  const search = h('input', { type: 'search', value: q, 'aria-label': 'Search titles', placeholder: 'Search titles' });
  const body = h('div', {}, loading('Loading the titles'));
  shell(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Titles'),
      h('form', { role: 'search', class: 'inline', onsubmit: (e) => { e.preventDefault(); navigate(`/admin?q=${encodeURIComponent(search.value.trim())}`); } }, search),
      h('a', { class: 'btn primary', href: '/admin/titles/new' }, '+ New title')),
    body));
  let items;
  try {
    items = await api.all('/api/v1/admin/titles', q ? { q } : {}, 1000);
  } catch (e) {
    if (live()) clear(body, errorBox(e, render));
    return;
  }
  if (!live()) return;
  if (!items.length) {
    clear(body, empty(q ? 'No titles match' : 'No titles yet', q ? null : 'Create the first title, then attach its video and publish it.',
      h('a', { class: 'btn primary', href: '/admin/titles/new' }, 'Create a title')));
    return;
  }
  const table = h('table', { class: 'table' },
    h('caption', { class: 'sr-only' }, 'Titles, newest last'),
    h('thead', {}, h('tr', {}, ['Title', 'Genres', 'Tier', 'Video', 'Status', 'Updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, items.map((t) => titleRow(t))));
  clear(body, h('p', { class: 'muted', role: 'status' }, `${items.length} ${items.length === 1 ? 'title' : 'titles'}`), h('div', { class: 'table-wrap' }, table));
}

function statusBadge(t) {
  return h('span', { class: `badge ${t.published ? 'ok' : 'draft'}` }, t.published ? 'Published' : 'Draft');
}

function titleRow(t) {
  const tr = h('tr', {},
    h('th', { scope: 'row' }, h('a', { href: `/admin/titles/${t.id}` }, t.title)),
    h('td', {}, (t.genres || []).join(', ')),
    h('td', {}, t.tier),
    h('td', {}, t.asset_id ? h('code', {}, t.asset_id) : h('span', { class: 'muted' }, 'none'), t.duration ? ` · ${runtime(t.duration)}` : ''),
    h('td', {}, statusBadge(t)),
    h('td', {}, dateTime(t.updated_at)),
    h('td', {}, publishButton(t, (nt) => tr.replaceWith(titleRow(nt)))));
  return tr;
}

function publishButton(t, onChange) {
  const verb = t.published ? 'unpublish' : 'publish';
  return h('button', {
    class: `btn small ${t.published ? '' : 'primary'}`, type: 'button',
    'aria-label': `${t.published ? 'Unpublish' : 'Publish'} ${t.title}`,
    onclick: async (e) => {
      e.currentTarget.disabled = true;
      try {
        const nt = await api.post(`/api/v1/admin/titles/${t.id}/${verb}`);
        toast(`${nt.title} is ${nt.published ? 'published' : 'unpublished'}`);
        onChange(nt);
      } catch (err) {
        toast(err.code === 'invalid_state' ? `${t.title} cannot be published without a readable video: attach one first.` : err.message, 'error');
        e.currentTarget.disabled = false;
      }
    },
  }, t.published ? 'Unpublish' : 'Publish');
}

// ---- create and edit ----
const TIERS = ['free', 'basic', 'premium'];

function toInput(iso) { return iso ? iso.slice(0, 10) : ''; }
function list(text) { return text.split(',').map((s) => s.trim()).filter(Boolean); }

async function editPage(id, live) {
  const main = shell(loading(id ? 'Loading the title' : 'Preparing'));
  let t = null;
  if (id) {
    try { t = await api.get(`/api/v1/admin/titles/${id}`); } catch (e) { if (live()) clear(main, errorBox(e, render)); return; }
    if (!live()) return;
  }
  const f = {
    title: h('input', { required: true, maxlength: '200', value: t?.title || '', 'data-autofocus': true }),
    synopsis: h('textarea', { rows: '4', maxlength: '4000' }, t?.synopsis || ''),
    genres: h('input', { value: (t?.genres || []).join(', '), placeholder: 'Animation, Comedy' }),
    year: h('input', { type: 'number', min: '1878', max: '2100', value: t?.year ?? '' }),
    cast: h('input', { value: (t?.cast || []).join(', ') }),
    maturity_rating: h('input', { maxlength: '16', value: t?.maturity_rating || '', placeholder: 'PG-13' }),
    tier: h('select', {}, TIERS.map((x) => h('option', { value: x, selected: (t?.tier || 'free') === x }, x[0].toUpperCase() + x.slice(1)))),
    artwork: h('input', { value: (t?.artwork || []).join(', '), placeholder: 'https://cdn.example/poster.jpg' }),
    asset_id: h('input', { value: t?.asset_id || '', pattern: '[0-9a-f]{1,64}', placeholder: '16 hex digits', spellcheck: 'false' }),
    available_from: h('input', { type: 'date', value: toInput(t?.available_from) }),
    available_until: h('input', { type: 'date', value: toInput(t?.available_until) }),
  };
  const status = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const save = h('button', { class: 'btn primary', type: 'submit' }, t ? 'Save changes' : 'Create title');
  const state = h('div', { class: 'state-line' });
  const showState = () => clear(state, t ? [statusBadge(t), ' ', publishButton(t, (nt) => { t = nt; showState(); })] : h('span', { class: 'muted' }, 'A new title starts as a draft.'));
  showState();

  const form = h('form', {
    class: 'edit-form',
    onsubmit: async (e) => {
      e.preventDefault();
      status.hidden = true;
      const body = {
        title: f.title.value.trim(),
        synopsis: f.synopsis.value,
        genres: list(f.genres.value),
        year: f.year.value ? Number(f.year.value) : null,
        cast: list(f.cast.value),
        maturity_rating: f.maturity_rating.value.trim() || null,
        tier: f.tier.value,
        artwork: list(f.artwork.value),
        asset_id: f.asset_id.value.trim() || null,
        available_from: f.available_from.value || null,
        available_until: f.available_until.value || null,
      };
      save.disabled = true;
      try {
        const nt = t ? await api.patch(`/api/v1/admin/titles/${t.id}`, body) : await api.post('/api/v1/admin/titles', body);
        toast(t ? 'Saved' : `Created “${nt.title}”`);
        if (!t) { navigate(`/admin/titles/${nt.id}`, true); return; }
        t = nt;
        showState();
      } catch (err) {
        status.textContent = err.code === 'conflict' ? 'Someone else edited this title meanwhile. Reload it to see their changes.' : err.message;
        status.hidden = false;
        const name = (err.message || '').split(/[ :]/)[0];
        (f[name] || f.title).focus();
      } finally {
        save.disabled = false;
      }
    },
  },
  h('fieldset', {}, h('legend', {}, 'Metadata'),
    field('Title', f.title),
    field('Synopsis', f.synopsis),
    h('div', { class: 'cols' }, field('Genres', f.genres, 'Separated by commas.'), field('Year', f.year), field('Maturity rating', f.maturity_rating)),
    field('Cast', f.cast, 'Separated by commas.'),
    field('Artwork', f.artwork, 'URLs or paths of images, separated by commas; the first is the poster.')),
  h('fieldset', {}, h('legend', {}, 'Availability'),
    h('div', { class: 'cols' }, field('Tier', f.tier, 'Free titles are for everyone; others need that plan.'),
      field('Available from', f.available_from), field('Available until', f.available_until))),
  h('fieldset', {}, h('legend', {}, 'Video'),
    field('Asset id', f.asset_id, 'Filled in when an upload finishes; or the id printed by `kino ingest`.'),
    uploadPanel({ session, api, title: () => f.title.value.trim(), onAsset: (assetId) => { f.asset_id.value = assetId; toast('The video is ready: save to attach it.'); } })),
  status,
  h('div', { class: 'actions' }, save, h('a', { class: 'btn', href: '/admin' }, 'Back to the titles')));

  clear(main, h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, t ? `Edit “${t.title}”` : 'New title'), state),
    form));
  focusMain(main);
}

render();
