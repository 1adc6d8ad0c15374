// The viewer app at /: sign-up and sign-in, the home screen of rows, title pages, search,
// the player, and the account page. Plain modules; the router maps paths to pages and
// each page renders into <main>.
import '../common/styles.css';
import { ApiError, Session, createApi } from '../common/api.js';
import { clear, empty, errorBox, field, focusMain, h, loading } from '../common/dom.js';
import { clock, hue, runtime } from '../common/format.js';
import { Player, REFUSALS, preferredFormat } from './player.js';
import { allProgress, resumePosition } from './progress.js';
import { interceptLinks, match } from './router.js';

const session = new Session('viewer');
const api = createApi(session);
const root = document.getElementById('app');
let current = null; // the page's cleanup, if any
let renderSeq = 0;

function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  render();
}
window.addEventListener('popstate', render);
interceptLinks(navigate);
session.onChange(() => { if (!session.signedIn && !match(location.pathname)?.public) navigate('/signin', { replace: true }); });

// ---- the shell ----
function header() {
  const q = new URLSearchParams(location.search).get('q') || '';
  const search = h('input', { type: 'search', name: 'q', value: q, placeholder: 'Titles, people, genres', 'aria-label': 'Search titles', autocomplete: 'off' });
  return h('header', { class: 'topbar' },
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('a', { class: 'brand', href: '/', 'aria-label': 'Kino home' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▶'), 'Kino'),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      h('a', { href: '/', 'aria-current': location.pathname === '/' ? 'page' : null }, 'Home'),
      h('a', { href: '/search', 'aria-current': location.pathname === '/search' ? 'page' : null }, 'Browse')),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); navigate(`/search?q=${encodeURIComponent(search.value.trim())}`); } }, search),
    h('a', { class: 'avatar', href: '/account', 'aria-label': `Account: ${session.user?.email || ''}`, title: session.user?.email || '' },
      (session.user?.email || '?').slice(0, 1).toUpperCase()));
}

async function render() {
  const seq = ++renderSeq;
  current?.();
  current = null;
  const route = match(location.pathname);
  if (!route) {
    mount(false, h('section', { class: 'page narrow' }, h('h1', {}, 'Page not found'), h('p', {}, h('a', { href: '/' }, 'Go to the home screen'))));
    return;
  }
  if (!route.public && !session.signedIn) {
    navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true });
    return;
  }
  if (route.public && session.signedIn) { navigate('/', { replace: true }); return; }
  const page = pages[route.page];
  document.title = 'Kino';
  await page(...route.params, () => seq === renderSeq);
}

function mount(withHeader, ...content) {
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' }, content);
  clear(root, withHeader ? header() : null, main);
  focusMain(main);
  return main;
}

// Loads with a loading state, renders, or shows the error with a retry.
async function withData(load, show, label) {
  const main = mount(true, loading(label));
  try {
    const data = await load();
    return show(data, main);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    clear(main, errorBox(e, render));
  }
}

// ---- artwork ----
function art(t, size = 'card') {
  const src = t.artwork?.[0];
  const hh = hue(t.id + t.title);
  const fallback = h('div', { class: 'art-fallback', style: { background: `linear-gradient(135deg, hsl(${hh} 60% 32%), hsl(${(hh + 60) % 360} 70% 14%))` } },
    h('span', {}, t.title));
  if (!src) return h('div', { class: `art art-${size}` }, fallback);
  const img = h('img', { src, alt: '', loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.replaceWith(fallback));
  return h('div', { class: `art art-${size}` }, img);
}

function metaLine(t) {
  return [t.year, t.maturity_rating, runtime(t.duration), t.tier !== 'free' ? t.tier : null].filter(Boolean).join(' · ');
}

function card(t, progress) {
  const p = progress?.[t.id];
  const pct = p && p.duration ? Math.min(100, (p.position / p.duration) * 100) : 0;
  return h('a', { class: 'card', href: `/title/${t.id}`, 'aria-label': `${t.title}${t.year ? `, ${t.year}` : ''}` },
    art(t),
    pct > 0 ? h('div', { class: 'card-progress', 'aria-hidden': 'true' }, h('span', { style: { width: `${pct}%` } })) : null,
    h('div', { class: 'card-body' }, h('span', { class: 'card-title' }, t.title), h('span', { class: 'card-meta' }, metaLine(t))));
}

// A horizontal row; arrow keys move between its cards.
function row(title, reason, items, progress) {
  const id = `row-${Math.random().toString(36).slice(2, 8)}`;
  const list = h('div', { class: 'row-items', role: 'list' }, items.map((t) => h('div', { role: 'listitem' }, card(t, progress))));
  list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const cards = [...list.querySelectorAll('.card')];
    const i = cards.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    const next = cards[Math.max(0, Math.min(cards.length - 1, i + (e.key === 'ArrowRight' ? 1 : -1)))];
    next.focus();
    next.scrollIntoView({ block: 'nearest', inline: 'nearest', behavior: 'smooth' });
  });
  return h('section', { class: 'row', 'aria-labelledby': id },
    h('div', { class: 'row-head' }, h('h2', { id }, title), reason ? h('p', { class: 'row-reason' }, reason) : null),
    list);
}

// ---- pages ----
const pages = {
  signin: (live) => authPage('signin', live),
  signup: (live) => authPage('signup', live),

  async home(live) {
    await withData(async () => {
      // The personalized rows, once the API has them; until then the catalog by genre.
      try {
        const r = await api.get('/api/v1/home');
        if (Array.isArray(r?.rows)) return { rows: r.rows.map((x) => ({ title: x.title, reason: x.reason, items: x.items || x.titles || [] })), personalized: true };
      } catch (e) {
        if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
      }
      const titles = await api.all('/api/v1/titles');
      return { titles };
    }, (data, main) => {
      if (!live()) return;
      const progress = allProgress(session.user?.id);
      let rows = data.rows;
      const titles = data.titles || rows.flatMap((r) => r.items);
      if (!titles.length) {
        clear(main, empty('Nothing to watch yet', 'The catalog is empty. Titles appear here as soon as they are published.'));
        return;
      }
      if (!rows) rows = rowsByGenre(data.titles, progress);
      const hero = titles.find((t) => t.artwork?.length) || [...titles].reverse().find((t) => t.tier === 'free') || titles[titles.length - 1];
      clear(main,
        heroBlock(hero),
        h('h1', { class: 'sr-only' }, 'Home'),
        rows.filter((r) => r.items.length).map((r) => row(r.title, r.reason, r.items, progress)));
    }, 'Loading your home screen');
  },

  async search(live) {
    const params = new URLSearchParams(location.search);
    const q = params.get('q') || '';
    const genre = params.get('genre') || '';
    await withData(async () => {
      const query = {};
      if (q) query.q = q.slice(0, 100);
      if (genre) query.genre = genre;
      return { items: await api.all('/api/v1/titles', query, 200) };
    }, ({ items }, main) => {
      if (!live()) return;
      const genres = [...new Set(items.flatMap((t) => t.genres || []))].sort();
      const heading = q ? `Results for “${q}”` : genre ? genre : 'Browse all titles';
      clear(main, h('section', { class: 'page' },
        h('h1', {}, heading),
        h('p', { class: 'muted', role: 'status' }, `${items.length} ${items.length === 1 ? 'title' : 'titles'}`),
        !q && genres.length ? h('div', { class: 'chips', role: 'group', 'aria-label': 'Filter by genre' },
          h('a', { class: 'chip', href: '/search', 'aria-current': genre ? null : 'true' }, 'All'),
          genres.map((g) => h('a', { class: 'chip', href: `/search?genre=${encodeURIComponent(g)}`, 'aria-current': g === genre ? 'true' : null }, g))) : null,
        items.length
          ? h('div', { class: 'grid', role: 'list' }, items.map((t) => h('div', { role: 'listitem' }, card(t, allProgress(session.user?.id)))))
          : empty('No titles found', q ? 'Try another word, a person’s name or a genre.' : 'Nothing is published yet.')));
    }, 'Searching');
  },

  async title(id, live) {
    await withData(() => api.get(`/api/v1/titles/${id}`), (t, main) => {
      if (!live()) return;
      document.title = `${t.title} · Kino`;
      const at = resumePosition(session.user?.id, t.id);
      clear(main, h('article', { class: 'title-page' },
        h('div', { class: 'backdrop', 'aria-hidden': 'true' }, art(t, 'wide')),
        h('div', { class: 'title-info' },
          h('h1', {}, t.title),
          h('p', { class: 'meta' }, metaLine(t)),
          t.genres?.length ? h('p', { class: 'genres' }, t.genres.map((g) => h('a', { class: 'chip', href: `/search?genre=${encodeURIComponent(g)}` }, g))) : null,
          h('div', { class: 'actions' },
            h('a', { class: 'btn primary', href: `/watch/${t.id}`, 'data-autofocus': true }, at ? `▶ Resume from ${clock(at)}` : '▶ Play'),
            at ? h('a', { class: 'btn', href: `/watch/${t.id}?start=0` }, 'Start over') : null),
          t.synopsis ? h('p', { class: 'synopsis' }, t.synopsis) : null,
          t.cast?.length ? h('p', { class: 'cast' }, h('span', { class: 'muted' }, 'Cast: '), t.cast.join(', ')) : null,
          h('p', { class: 'muted small' }, `Streams in ${preferredFormat().toUpperCase()}; switch in the player.`))));
    }, 'Loading the title');
  },

  async watch(id, live) {
    let t;
    const main = mount(false, loading('Starting playback'));
    main.classList.add('main-player');
    try {
      t = await api.get(`/api/v1/titles/${id}`);
    } catch (e) {
      if (!live()) return;
      if (e instanceof ApiError && e.status === 404) {
        const r = REFUSALS.not_available;
        clear(main, h('section', { class: 'page narrow state', role: 'alert' }, h('h1', {}, r.title), h('p', {}, r.text), h('a', { class: 'btn', href: '/' }, 'Back home')));
      } else clear(main, errorBox(e, render));
      return;
    }
    if (!live()) return;
    document.title = `${t.title} · Kino`;
    if (new URLSearchParams(location.search).get('start') === '0') {
      const all = allProgress(session.user?.id);
      if (all[t.id]) { all[t.id].position = 0; localStorage.setItem(`kino.viewer.progress.${session.user?.id}`, JSON.stringify(all)); }
    }
    const format = new URLSearchParams(location.search).get('format');
    const player = new Player({ api, session, title: t, format: format === 'dash' || format === 'hls' ? format : null, navigate });
    clear(main, player.root);
    player.root.focus();
    window.kinoPlayer = player; // for the browser tests and the console
    current = () => { player.destroy(); if (window.kinoPlayer === player) window.kinoPlayer = null; };
    player.start();
  },

  async account(live) {
    await withData(async () => {
      const [me, ent] = await Promise.all([api.get('/api/v1/auth/me'), api.get('/api/v1/me/entitlements').catch(() => null)]);
      return { me, ent };
    }, ({ me, ent }, main) => {
      if (!live()) return;
      const plan = ent?.effective_plan || ent?.plan || 'free';
      clear(main, h('section', { class: 'page narrow' },
        h('h1', {}, 'Account'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Email'), h('dd', {}, me.email),
          h('dt', {}, 'Plan'), h('dd', {}, `${plan[0].toUpperCase()}${plan.slice(1)}${ent?.max_streams ? ` · ${ent.max_streams} ${ent.max_streams === 1 ? 'screen' : 'screens'} at once` : ''}`),
          ent?.until ? [h('dt', {}, 'Renews or ends'), h('dd', {}, new Date(ent.until).toLocaleDateString())] : null,
          h('dt', {}, 'Role'), h('dd', {}, me.role)),
        h('button', { class: 'btn', type: 'button', onclick: async () => { await api.signOut(); navigate('/signin'); } }, 'Sign out')));
    }, 'Loading your account');
  },
};

function rowsByGenre(titles, progress) {
  const rows = [];
  const watching = titles.filter((t) => resumePosition(session.user?.id, t.id, progress) > 0)
    .sort((a, b) => progress[b.id].updated - progress[a.id].updated);
  if (watching.length) rows.push({ title: 'Continue watching', reason: 'You started these and have not finished them', items: watching });
  const recent = [...titles].reverse().slice(0, 20);
  rows.push({ title: 'New on Kino', reason: 'Recently added to the catalog', items: recent });
  const byGenre = new Map();
  for (const t of titles) for (const g of t.genres?.length ? t.genres : ['More to watch']) {
    if (!byGenre.has(g)) byGenre.set(g, []);
    byGenre.get(g).push(t);
  }
  [...byGenre.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
    .forEach(([g, items]) => rows.push({ title: g, reason: g === 'More to watch' ? 'Titles without a genre yet' : `Every ${g} title in the catalog`, items }));
  return rows;
}

function heroBlock(t) {
  return h('section', { class: 'hero', 'aria-label': `Featured: ${t.title}` },
    h('div', { class: 'hero-art', 'aria-hidden': 'true' }, art(t, 'wide')),
    h('div', { class: 'hero-body' },
      h('p', { class: 'eyebrow' }, 'Featured'),
      h('h2', { class: 'hero-title' }, t.title),
      h('p', { class: 'meta' }, metaLine(t)),
      t.synopsis ? h('p', { class: 'hero-synopsis' }, t.synopsis) : null,
      h('div', { class: 'actions' },
        h('a', { class: 'btn primary', href: `/watch/${t.id}` }, '▶ Play'),
        h('a', { class: 'btn', href: `/title/${t.id}` }, 'More info'))));
}

function authPage(mode, live) {
  const signup = mode === 'signup';
  const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'email', 'data-autofocus': true });
  const password = h('input', { type: 'password', name: 'password', required: true, minlength: '8', maxlength: '1024', autocomplete: signup ? 'new-password' : 'current-password' });
  const status = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { class: 'btn primary wide', type: 'submit' }, signup ? 'Create account' : 'Sign in');
  const form = h('form', {
    class: 'auth-form', novalidate: false,
    onsubmit: async (e) => {
      e.preventDefault();
      status.hidden = true;
      submit.disabled = true;
      submit.textContent = signup ? 'Creating your account…' : 'Signing in…';
      try {
        await api.signIn(email.value.trim(), password.value, mode);
        const next = new URLSearchParams(location.search).get('next');
        navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
      } catch (err) {
        status.textContent = authMessage(err);
        status.hidden = false;
        submit.disabled = false;
        submit.textContent = signup ? 'Create account' : 'Sign in';
        (err.code === 'email_taken' || err.code === 'invalid_credentials' ? password : email).focus();
      }
    },
  },
  h('h1', {}, signup ? 'Create your account' : 'Sign in'),
  signup ? h('p', { class: 'muted' }, 'Watch free titles at once; upgrade any time.') : null,
  field('Email', email),
  field('Password', password, signup ? 'At least 8 characters.' : null),
  status, submit,
  h('p', { class: 'muted' }, signup ? 'Already have an account? ' : 'New to Kino? ',
    h('a', { href: signup ? '/signin' : '/signup' }, signup ? 'Sign in' : 'Create an account')));
  if (!live()) return;
  const main = mount(false, h('div', { class: 'auth' },
    h('a', { class: 'brand big', href: '/signin', 'aria-label': 'Kino' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, '▶'), 'Kino'),
    form));
  main.classList.add('main-auth');
  email.focus();
}

function authMessage(err) {
  switch (err.code) {
    case 'invalid_credentials': return 'That email and password do not match an account.';
    case 'email_taken': return 'An account with this email exists already. Sign in instead.';
    case 'rate_limited': return 'Too many attempts. Wait a few minutes, then try again.';
    default: return err.message || 'Something went wrong. Try again.';
  }
}

render();
