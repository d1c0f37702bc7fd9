// Operator pages (analytics, timeline): their requests are same-origin, so they carry the sign-in cookie; a 401 sends
// the browser to the sign-in page, which comes back here afterwards. The element #operator shows who is signed in.
(function () {
  'use strict';
  const signInUrl = () => '/signin.html?return_url=' + encodeURIComponent(location.pathname + location.search);

  window.operatorSignIn = function () { location.assign(signInUrl()); };

  async function show() {
    const slot = document.getElementById('operator');
    if (!slot) return;
    const s = await (await fetch('/auth/session', { cache: 'no-store' })).json();
    if (!s.protected) return;
    slot.textContent = '';
    if (s.signed_in) {
      slot.append(`${s.name} · `);
      const out = document.createElement('a');
      out.href = '#';
      out.id = 'signout';
      out.textContent = 'Sign out';
      out.addEventListener('click', async event => {
        event.preventDefault();
        await fetch('/auth/signout', { method: 'POST', headers: { 'X-Requested-With': 'operator-page' } });
        location.assign(signInUrl());
      });
      slot.append(out);
    } else {
      const link = document.createElement('a');
      link.href = signInUrl();
      link.textContent = 'Sign in';
      slot.append(link);
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', show); else show();
})();
