// Effekt's GraphiQL: sign in with authorisation code + PKCE (Web Crypto), send the token with each
// operation, sign out at identity. Tokens live in this tab's sessionStorage only.
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('effekt-config').textContent);
  const endpoint = `${location.origin}/graphql`;
  const redirectUri = endpoint;
  const store = window.sessionStorage;
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
  const tokens = () => JSON.parse(store.getItem('effekt.tokens') || 'null');
  const claims = (jwt) => JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
  let discovery = null;

  async function metadata() {
    if (!discovery) {
      const response = await fetch(`${cfg.issuer}/.well-known/openid-configuration`);
      discovery = await response.json();
    }
    return discovery;
  }

  async function signIn(loginHint) {
    const verifier = random(32);
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const state = random(16);
    store.setItem('effekt.pkce', JSON.stringify({verifier, state}));
    const query = new URLSearchParams({
      response_type: 'code', client_id: cfg.clientId, redirect_uri: redirectUri, scope: cfg.scope,
      state, nonce: random(16), code_challenge: challenge, code_challenge_method: 'S256',
    });
    if (typeof loginHint === 'string') query.set('login_hint', loginHint);
    location.assign(`${(await metadata()).authorization_endpoint}?${query}`);
  }

  async function signOut() {
    const current = tokens();
    store.removeItem('effekt.tokens');
    if (current && current.id_token) {
      const query = new URLSearchParams({
        id_token_hint: current.id_token, post_logout_redirect_uri: redirectUri, client_id: cfg.clientId,
      });
      location.assign(`${(await metadata()).end_session_endpoint}?${query}`);
    } else {
      show();
    }
  }

  async function redeem(params) {
    const saved = JSON.parse(store.getItem('effekt.pkce') || '{}');
    store.removeItem('effekt.pkce');
    history.replaceState(null, '', '/graphql');
    if (params.get('error')) throw new Error(`sign-in refused: ${params.get('error')}`);
    if (!saved.state || params.get('state') !== saved.state) throw new Error('sign-in state mismatch');
    const response = await fetch((await metadata()).token_endpoint, {method: 'POST', body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri,
      client_id: cfg.clientId, code_verifier: saved.verifier,
    })});
    const body = await response.json();
    if (!response.ok) throw new Error(`token endpoint: ${body.error}`);
    store.setItem('effekt.tokens', JSON.stringify(body));
  }

  async function refresh() {
    const current = tokens();
    if (!current || !current.refresh_token) return false;
    const response = await fetch((await metadata()).token_endpoint, {method: 'POST', body: new URLSearchParams({
      grant_type: 'refresh_token', refresh_token: current.refresh_token, client_id: cfg.clientId,
    })});
    if (!response.ok) { store.removeItem('effekt.tokens'); show(); return false; }
    store.setItem('effekt.tokens', JSON.stringify({...current, ...(await response.json())}));
    return true;
  }

  function show(message) {
    const current = tokens();
    const who = document.getElementById('effekt-who');
    document.getElementById('effekt-sign-in').hidden = Boolean(current) || !cfg.clientId;
    document.getElementById('effekt-demo-label').hidden = Boolean(current) || !cfg.clientId || !cfg.demoUsers.length;
    document.getElementById('effekt-sign-out').hidden = !current;
    if (message) who.textContent = message;
    else if (current) {
      const access = claims(current.access_token);
      const person = current.id_token ? claims(current.id_token).email : null;
      who.textContent = `Signed in as ${access.partner_type}${person ? ` (${person})` : ''}`;
    } else who.textContent = cfg.clientId ? 'Not signed in' : 'Not signed in (no GraphiQL client configured)';
  }

  async function fetcher(params, options) {
    const send = () => {
      const current = tokens();
      const headers = {'Content-Type': 'application/json', ...((options && options.headers) || {})};
      if (current && !headers.Authorization) headers.Authorization = `Bearer ${current.access_token}`;
      return fetch(endpoint, {method: 'POST', headers, body: JSON.stringify(params)});
    };
    let response = await send();
    if (response.status === 401 && await refresh()) response = await send();
    return response.json();
  }

  async function start() {
    document.getElementById('effekt-sign-in').addEventListener('click', () => signIn());
    const picker = document.getElementById('effekt-demo');
    picker.append(new Option('choose a partner type…', ''));
    for (const user of cfg.demoUsers) picker.append(new Option(`${user.partnerType} (${user.key})`, user.email));
    picker.addEventListener('change', () => { if (picker.value) signIn(picker.value); });
    document.getElementById('effekt-sign-out').addEventListener('click', signOut);
    const params = new URLSearchParams(location.search);
    let message = null;
    if (params.has('code') || params.has('error')) {
      try { await redeem(params); } catch (error) { message = String(error.message || error); }
    } else if (params.has('state')) {
      history.replaceState(null, '', '/graphql');  // back from signing out
    }
    show(message);
    const root = ReactDOM.createRoot(document.getElementById('graphiql'));
    root.render(React.createElement(GraphiQL, {
      fetcher, defaultQuery: '{\n  me {\n    partnerType\n  }\n}\n',
    }));
  }

  start();
})();
