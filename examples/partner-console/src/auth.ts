// Sign-in with OAuth 2 authorisation code + PKCE against Effekt's identity service, as a public client
// (no secret). Tokens live in sessionStorage: they end with the tab, and no other origin can read them.
// Identity keeps no sign-in cookie, so signing out is ending the sign-in at identity (RP-initiated logout).

export interface Config {
  issuer: string; // identity, e.g. http://127.0.0.1:8001
  gateway: string; // the GraphQL gateway, e.g. http://127.0.0.1:8000
  clientId: string; // the console's registered public client
  redirectUri?: string; // default: this page's origin and path
}

interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  expires_at: number; // epoch seconds
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  end_session_endpoint: string;
}

// Every scope the four views use: verification reads the contract's terms, so it needs contracts:read too.
const SCOPE = "openid profile offline_access partners:read contracts:read outcomes:read outcomes:verify feed:read";
const TOKENS = "effekt.console.tokens";
const PENDING = "effekt.console.pkce";

const b64url = (bytes: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (size: number) => b64url(crypto.getRandomValues(new Uint8Array(size)));

export class Auth {
  private discovery?: Promise<Discovery>;
  private refreshing?: Promise<Tokens | null>;

  constructor(readonly config: Config) {}

  get redirectUri(): string {
    return this.config.redirectUri ?? `${location.origin}${location.pathname}`;
  }

  private endpoints(): Promise<Discovery> {
    this.discovery ??= fetch(`${this.config.issuer}/.well-known/openid-configuration`).then((r) => r.json());
    return this.discovery;
  }

  private get tokens(): Tokens | null {
    const saved = sessionStorage.getItem(TOKENS);
    return saved ? (JSON.parse(saved) as Tokens) : null;
  }

  private save(body: { access_token: string; refresh_token?: string; id_token?: string; expires_in: number }) {
    const tokens: Tokens = { ...body, expires_at: Date.now() / 1000 + body.expires_in };
    sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
    return tokens;
  }

  get signedIn(): boolean {
    return this.tokens !== null;
  }

  async signIn(loginHint?: string): Promise<void> {
    const verifier = random(32);
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const state = random(16);
    sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state }));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: this.config.clientId,
      redirect_uri: this.redirectUri,
      scope: SCOPE,
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    location.assign(`${(await this.endpoints()).authorization_endpoint}?${query}`);
  }

  /** On the redirect back: redeem the code (once) and clean the address bar. */
  async completeSignIn(): Promise<void> {
    const params = new URLSearchParams(location.search);
    if (!params.has("code") && !params.has("error")) return;
    const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? "{}");
    sessionStorage.removeItem(PENDING);
    history.replaceState(null, "", location.pathname);
    if (params.get("error")) throw new Error(params.get("error_description") ?? params.get("error")!);
    if (!pending.state || params.get("state") !== pending.state) throw new Error("state mismatch");
    const response = await fetch((await this.endpoints()).token_endpoint, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code")!,
        redirect_uri: this.redirectUri,
        client_id: this.config.clientId,
        code_verifier: pending.verifier,
      }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error_description ?? body.error);
    this.save(body);
  }

  /** A current access token, refreshed (refresh tokens rotate) when it is about to expire. */
  async accessToken(): Promise<string | null> {
    const tokens = this.tokens;
    if (!tokens) return null;
    if (tokens.expires_at - 30 > Date.now() / 1000) return tokens.access_token;
    this.refreshing ??= this.refresh(tokens).finally(() => (this.refreshing = undefined));
    return (await this.refreshing)?.access_token ?? null;
  }

  private async refresh(tokens: Tokens): Promise<Tokens | null> {
    if (!tokens.refresh_token) return this.forget();
    const response = await fetch((await this.endpoints()).token_endpoint, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        client_id: this.config.clientId,
      }),
    });
    if (!response.ok) return this.forget(); // the sign-in ended (signed out elsewhere, or revoked)
    return this.save({ id_token: tokens.id_token, ...(await response.json()) });
  }

  private forget(): null {
    sessionStorage.removeItem(TOKENS);
    return null;
  }

  /** End the sign-in at identity (its refresh and access tokens stop working) and come back here. */
  async signOut(): Promise<void> {
    const idToken = this.tokens?.id_token;
    this.forget();
    if (!idToken) return location.reload();
    const query = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: this.redirectUri });
    location.assign(`${(await this.endpoints()).end_session_endpoint}?${query}`);
  }
}
