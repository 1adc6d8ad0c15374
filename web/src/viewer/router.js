// The viewer app's routes. core/web_static.c serves index.html for exactly these path
// prefixes: keep the two lists in step.
export const routes = [
  { path: /^\/$/, page: 'home' },
  { path: /^\/signin$/, page: 'signin', public: true },
  { path: /^\/signup$/, page: 'signup', public: true },
  { path: /^\/search$/, page: 'search' },
  { path: /^\/account$/, page: 'account' },
  { path: /^\/title\/([0-9a-f]{1,64})$/, page: 'title' },
  { path: /^\/watch\/([0-9a-f]{1,64})$/, page: 'watch' },
];

export function match(pathname) {
  for (const r of routes) {
    const m = r.path.exec(pathname);
    if (m) return { ...r, params: m.slice(1) };
  }
  return null;
}

// Client-side navigation for same-app links: <a href> stays a real link (middle-click,
// open in a new tab), a plain click does not reload the page.
export function interceptLinks(navigate) {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !match(url.pathname)) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}
