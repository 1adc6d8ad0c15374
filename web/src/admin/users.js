// The admin console's Users page (/admin/users?q=&role=): accounts with their roles and plans
// (GET /api/v1/admin/users, a page at a time by cursor), a search by email, a role filter, and
// changing a role after a confirmation (PATCH /api/v1/admin/users/{id}). The server refuses to
// demote the last administrator (409 last_admin); a new role applies to the account's next
// request, so an admin who demotes themself loses the console at once.
import { clear, confirmDialog, empty, errorBox, h, loading, toast } from '../common/dom.js';
import { dateTime } from '../common/format.js';

const ROLES = ['viewer', 'analyst', 'admin'];
const PAGE = 25;
const ROLE_HELP = {
  viewer: 'watches titles',
  analyst: 'watches titles and reads the analytics dashboard',
  admin: 'manages titles, users and recommendations',
};

const cap = (s) => s[0].toUpperCase() + s.slice(1);
const a = (role) => (role === 'viewer' ? 'a' : 'an');

// ctx: { shell, api, session, navigate, live, render }
export async function usersPage(ctx) {
  const { shell, live } = ctx;
  const params = new URLSearchParams(location.search);
  let q = params.get('q') || '';
  let role = ROLES.includes(params.get('role')) ? params.get('role') : '';

  const search = h('input', { type: 'search', value: q, placeholder: 'Search by email', 'aria-label': 'Search users by email', name: 'q' });
  const roleFilter = h('select', { 'aria-label': 'Filter by role', name: 'role' },
    h('option', { value: '' }, 'All roles'),
    ROLES.map((r) => h('option', { value: r, selected: r === role }, `${cap(r)}s`)));
  // A new search stays on the page (focus stays where it is) and in the address bar.
  const go = () => {
    q = search.value.trim();
    role = roleFilter.value;
    const p = new URLSearchParams();
    if (q) p.set('q', q);
    if (role) p.set('role', role);
    history.replaceState(null, '', `/admin/users${p.size ? `?${p}` : ''}`);
    cursors.length = 1;
    pageNo = 0;
    load();
  };
  roleFilter.addEventListener('change', go);
  const body = h('div', {});
  shell(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Users'),
      h('form', { role: 'search', class: 'inline filters-inline', 'aria-label': 'Find users', onsubmit: (e) => { e.preventDefault(); go(); } },
        search, ' ', roleFilter, ' ', h('button', { class: 'btn', type: 'submit' }, 'Search'))),
    h('p', { class: 'muted' }, 'Roles: ', ROLES.map((r, i) => [i ? '; ' : '', h('strong', {}, r), ` ${ROLE_HELP[r]}`]), '. A change applies to the account’s next request.'),
    body));

  // Cursors of the pages seen, so that "Previous" can go back without the server's help.
  const cursors = [null];
  let pageNo = 0;
  let loads = 0; // only the latest answer is shown when searches overlap

  // `paged`: the pager's button is replaced with the page, so focus moves to the count.
  async function load(paged = false) {
    const mine = ++loads;
    const current = () => live() && mine === loads;
    clear(body, loading('Loading the users'));
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (q) p.set('q', q);
    if (role) p.set('role', role);
    if (cursors[pageNo]) p.set('cursor', cursors[pageNo]);
    let page;
    try {
      page = await ctx.api.get(`/api/v1/admin/users?${p}`);
    } catch (e) {
      if (current()) clear(body, errorBox(e, () => load()));
      return;
    }
    if (!current()) return;
    const items = page.items || [];
    cursors[pageNo + 1] = page.next_cursor;
    if (!items.length && pageNo > 0) { // accounts went away meanwhile: start again
      cursors.length = 1;
      pageNo = 0;
      return load();
    }
    if (!items.length) {
      clear(body, empty(q || role ? 'No users match' : 'No users yet', q || role ? 'Try another part of the email, or all roles.' : null));
      return;
    }
    const first = pageNo * PAGE + 1;
    const table = h('table', { class: 'table' },
      h('caption', { class: 'sr-only' }, 'Users, oldest first'),
      h('thead', {}, h('tr', {}, ['Email', 'Role', 'Plan', 'Joined'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items.map((u) => userRow(ctx, u, load))));
    const prev = h('button', { class: 'btn small', type: 'button', disabled: pageNo === 0, onclick: () => { pageNo--; load(true); } }, 'Previous page');
    const next = h('button', { class: 'btn small', type: 'button', disabled: !page.next_cursor, onclick: () => { pageNo++; load(true); } }, 'Next page');
    const count = h('p', { class: 'muted', role: 'status', tabindex: '-1' }, `Users ${first}–${first + items.length - 1}${page.next_cursor ? '' : ` of ${first + items.length - 1}`}`);
    clear(body,
      count,
      h('div', { class: 'table-wrap' }, table),
      h('nav', { class: 'pager', 'aria-label': 'Pages of users' }, prev, h('span', { class: 'muted' }, `Page ${pageNo + 1}`), next));
    if (paged) count.focus();
  }
  await load();
}

function roleBadge(role) {
  return h('span', { class: `badge role-${role}` }, cap(role));
}

function userRow(ctx, u, reload) {
  const { api, session } = ctx;
  const me = session.user?.id === u.id;
  const select = h('select', { 'aria-label': `Role of ${u.email}` }, ROLES.map((r) => h('option', { value: r, selected: r === u.role }, cap(r))));
  const change = h('button', { class: 'btn small primary', type: 'button', disabled: true, 'aria-label': `Change the role of ${u.email}` }, 'Change');
  select.addEventListener('change', () => { change.disabled = select.value === u.role; });
  change.addEventListener('click', async () => {
    const to = select.value;
    const demotingMyself = me && to !== 'admin';
    const ok = await confirmDialog({
      title: `Make ${u.email} ${a(to)} ${to}?`,
      message: [
        `${u.email} goes from ${u.role} to ${to}: the account ${ROLE_HELP[to]}. It applies to their next request; they stay signed in.`,
        demotingMyself ? 'This is your own account: you will lose access to this console at once.' : null,
      ].filter(Boolean),
      confirm: `Make ${to}`,
    });
    if (!ok) { select.value = u.role; change.disabled = true; select.focus(); return; }
    change.disabled = select.disabled = true;
    try {
      const nu = await api.patch(`/api/v1/admin/users/${u.id}`, { role: to });
      toast(`${nu.email} is now ${a(nu.role)} ${nu.role}`);
      if (me) {
        session.set(session.token, { ...session.user, role: nu.role });
        ctx.render();
        return;
      }
      tr.replaceWith(userRow(ctx, nu, reload));
    } catch (err) {
      select.value = u.role;
      select.disabled = false;
      change.disabled = true;
      if (err.code === 'last_admin') toast(`${u.email} is the last administrator: make another account an administrator first.`, 'error');
      else if (err.status === 404) { toast(`${u.email} no longer exists`, 'error'); reload(); }
      else if (err.status === 403) { toast('Your account is no longer an administrator', 'error'); ctx.render(); }
      else toast(err.message, 'error');
    }
  });
  const tr = h('tr', { dataset: { userId: u.id } },
    h('th', { scope: 'row' }, u.email, me ? h('span', { class: 'muted small' }, ' (you)') : null),
    h('td', {}, h('div', { class: 'role-cell' }, roleBadge(u.role), select, change)),
    h('td', {}, cap(u.plan || 'free'), u.plan_until ? h('span', { class: 'muted small' }, ` until ${dateTime(u.plan_until)}`) : null),
    h('td', {}, dateTime(u.created_at)));
  return tr;
}
