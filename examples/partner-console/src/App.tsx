import { useEffect, useMemo, useState } from "preact/hooks";

import { Api } from "./api";
import type { Auth, Config } from "./auth";
import { I18nContext, i18n, initialLang, rememberLang, useI18n, type Lang } from "./i18n";
import CONSOLE from "./operations/console.graphql?raw";
import LEDGER_HEAD from "./operations/ledger-head.graphql?raw";
import { useQuery } from "./query";
import { Evaluator } from "./views/Evaluator";
import { Investor } from "./views/Investor";
import { Municipality } from "./views/Municipality";
import { Provider } from "./views/Provider";

interface ConsoleData {
  me: { partnerType: string; organisation: { name: string } | null };
  partnerships: { nodes: { id: string; name: string; myRoles: string[] }[] };
}

export interface ViewProps {
  api: Api;
  partnershipId: string;
  version: number; // moves when a ledger event arrives: the view reads again
}

// What each partner type is shown. A type without a view here still signs in and sees its partnerships.
const VIEWS: Record<string, (props: ViewProps) => preact.JSX.Element> = {
  MUNICIPALITY: Municipality,
  PROVIDER: Provider,
  INVESTOR: Investor,
  EVALUATOR: Evaluator,
};

export function App({ auth, config, signInError }: { auth: Auth; config: Config; signInError?: string }) {
  const [lang, setLang] = useState<Lang>(initialLang());
  const text = useMemo(() => i18n(lang), [lang]);
  const api = useMemo(() => new Api(auth, config.gateway), [auth, config.gateway]);
  useEffect(() => rememberLang(lang), [lang]);
  const m = text.m;
  return (
    <I18nContext.Provider value={text}>
      <header class="topbar">
        <strong>{m.title}</strong>
        <span class="spacer" />
        <button type="button" lang={lang === "da" ? "en" : "da"} onClick={() => setLang(lang === "da" ? "en" : "da")}>
          {m.other}
        </button>
        {auth.signedIn && (
          <button type="button" onClick={() => void auth.signOut()}>
            {m.signOut}
          </button>
        )}
      </header>
      <main>
        {signInError && <p role="alert">{signInError}</p>}
        {auth.signedIn ? (
          <SignedIn api={api} />
        ) : (
          <button type="button" class="primary" onClick={() => void auth.signIn()}>
            {m.signIn}
          </button>
        )}
      </main>
    </I18nContext.Provider>
  );
}

function SignedIn({ api }: { api: Api }) {
  const { m } = useI18n();
  const who = useQuery<ConsoleData>(api, CONSOLE, {}, 0);
  const [chosen, choose] = useState<string>();
  if (who.error) return <Failed message={who.error} retry={who.reload} />;
  if (!who.data) return <p>{m.loading}</p>;
  const { me, partnerships } = who.data;
  const partnership = partnerships.nodes.find((p) => p.id === chosen) ?? partnerships.nodes[0];
  const View = VIEWS[me.partnerType];
  return (
    <>
      <p class="who" id="who">
        {me.organisation?.name} · <span data-partner-type={me.partnerType}>{me.partnerType.toLowerCase()}</span>
      </p>
      {!partnership ? (
        <p>{m.noPartnership}</p>
      ) : (
        <>
          {partnerships.nodes.length > 1 && (
            <label>
              {m.partnership}{" "}
              <select value={partnership.id} onChange={(e) => choose((e.target as HTMLSelectElement).value)}>
                {partnerships.nodes.map((p) => (
                  <option value={p.id}>{p.name}</option>
                ))}
              </select>
            </label>
          )}
          <Live key={partnership.id} api={api} id={partnership.id} name={partnership.name}>
            {(version) => (View ? <View api={api} partnershipId={partnership.id} version={version} /> : <p>{m.unsupported}</p>)}
          </Live>
        </>
      )}
    </>
  );
}

interface Head {
  partnership: { ledgerStatus: { valid: boolean; lastSequence: number | null } | null } | null;
}

/** Reads where the ledger stands, then follows it live; every new event makes the view read again. */
function Live({ api, id, name, children }: { api: Api; id: string; name: string; children: (version: number) => preact.JSX.Element }) {
  const { m } = useI18n();
  const head = useQuery<Head>(api, LEDGER_HEAD, { id }, 0);
  const [version, setVersion] = useState(0);
  const [connected, setConnected] = useState(false);
  const status = head.data?.partnership?.ledgerStatus;
  const ready = head.data !== undefined;
  useEffect(() => {
    if (!ready) return;
    return api.live(id, status?.lastSequence ?? 0, () => setVersion((v) => v + 1), setConnected);
  }, [api, id, ready]);
  return (
    <section>
      <h1>
        {name}{" "}
        <span class={connected ? "live on" : "live"} data-live={connected ? "on" : "off"} role="status">
          {connected ? m.live : m.offline}
        </span>
        {status && <span class="ledger">{status.valid ? m.ledgerIntact : m.ledgerBroken}</span>}
      </h1>
      {children(version)}
    </section>
  );
}

export function Failed({ message, retry }: { message: string; retry: () => void }) {
  const { m } = useI18n();
  return (
    <p role="alert">
      {message}{" "}
      <button type="button" onClick={retry}>
        {m.retry}
      </button>
    </p>
  );
}
