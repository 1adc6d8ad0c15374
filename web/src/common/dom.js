// A few DOM helpers instead of a framework: h() builds elements, the rest are the
// shared pieces of every page (loading, errors, notices, focus on navigation).

// h('a', {href: '/x', class: 'card', onclick: fn, 'aria-label': 'X'}, child, 'text', [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function loading(label = 'Loading') {
  return h('div', { class: 'state loading', role: 'status', 'aria-live': 'polite' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', {}, `${label}…`));
}

export function errorBox(err, retry) {
  return h('div', { class: 'state error', role: 'alert' },
    h('p', { class: 'error-title' }, 'Something went wrong'),
    h('p', {}, err?.message || String(err)),
    retry ? h('button', { class: 'btn', type: 'button', onclick: retry }, 'Try again') : null);
}

export function empty(title, text, action) {
  return h('div', { class: 'state empty' }, h('p', { class: 'empty-title' }, title), text ? h('p', {}, text) : null, action);
}

// A polite, self-clearing notice at the bottom of the screen.
export function toast(message, kind = 'info') {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const t = h('div', { class: `toast toast-${kind}` }, message);
  region.append(t);
  setTimeout(() => t.remove(), 5000);
}

// After a route change, move focus to the page's heading so keyboard and screen-reader
// users start at the new content.
export function focusMain(root) {
  const target = root.querySelector('h1, [data-autofocus]');
  if (target) {
    if (!target.hasAttribute('tabindex') && !/^(INPUT|BUTTON|A|SELECT|TEXTAREA)$/.test(target.tagName)) target.setAttribute('tabindex', '-1');
    target.focus({ preventScroll: true });
  }
}

// A labelled form field: h('input') inside a <label> with an optional hint and error slot.
export function field(label, control, hint) {
  const id = control.id || (control.id = `f-${Math.random().toString(36).slice(2, 9)}`);
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

// Icons as inline SVG (no icon font, no emoji: both depend on the fonts a system has).
const ICONS = {
  play: '<path d="M8 5v14l11-7z"/>',
  pause: '<path d="M6 5h4v14H6zM14 5h4v14h-4z"/>',
  volume: '<path d="M4 9v6h4l5 4V5L8 9H4zm12.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z"/>',
  mute: '<path d="M4 9v6h4l5 4V5L8 9H4zm12.6 3 2.7-2.7-1.4-1.4-2.7 2.7-2.7-2.7-1.4 1.4 2.7 2.7-2.7 2.7 1.4 1.4 2.7-2.7 2.7 2.7 1.4-1.4z"/>',
  fullscreen: '<path d="M5 5h5v2H7v3H5zm9 0h5v5h-2V7h-3zM5 14h2v3h3v2H5zm12 0h2v5h-5v-2h3z"/>',
  back: '<path d="M20 11H7.8l5.6-5.6L12 4l-8 8 8 8 1.4-1.4L7.8 13H20z"/>',
};

export function icon(name) {
  const span = document.createElement('span');
  span.className = 'icon';
  span.setAttribute('aria-hidden', 'true');
  span.innerHTML = `<svg viewBox="0 0 24 24" width="24" height="24" fill="currentColor">${ICONS[name]}</svg>`;
  return span;
}

// Asks before doing something that matters. A modal <dialog>: focus stays inside it, Escape
// cancels, and focus goes back to where it was. Resolves true only for the confirm button.
export function confirmDialog({ title, message, confirm = 'Confirm', cancel = 'Cancel' }) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const titleId = `dlg-${Math.random().toString(36).slice(2, 9)}`;
    const no = h('button', { class: 'btn', type: 'button', onclick: () => dlg.close('cancel') }, cancel);
    const yes = h('button', { class: 'btn primary', type: 'button', onclick: () => dlg.close('confirm') }, confirm);
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      Array.isArray(message) ? message.map((m) => h('p', {}, m)) : h('p', {}, message),
      h('div', { class: 'actions' }, yes, no));
    dlg.addEventListener('close', () => {
      dlg.remove();
      back?.focus?.();
      resolve(dlg.returnValue === 'confirm');
    });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}
