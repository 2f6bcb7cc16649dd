import { useState } from "preact/hooks";

import type { ViewProps } from "../App";
import { Failed } from "../App";
import { useI18n } from "../i18n";
import DECIDE from "../operations/decide.graphql?raw";
import DESK from "../operations/municipality.graphql?raw";
import { useQuery } from "../query";

interface Claim {
  id: string;
  version: number;
  outcomeCode: string;
  achievementDate: string;
  evidence: { reference: string | null; hasDocument: boolean };
  participant: { pseudonym: string; municipalReference: string | null } | null;
}

interface Desk {
  partnership: {
    participants: {
      nodes: {
        id: string;
        pseudonym: string;
        municipalReference: string | null;
        enrolmentDate: string;
        segment: string | null;
        eligibilityConfirmedAt: string | null;
        exitDate: string | null;
      }[];
    } | null;
    claims: { nodes: Claim[] } | null;
  } | null;
}

type Decided = { __typename: "Claim"; status: string } | { __typename: string; code: string; message: string };

/** An outcome payer: its own residents (the outcome service shows a municipality no one else's) and the
 * claims waiting for its verification, each with verify and reject. */
export function Municipality({ api, partnershipId, version }: ViewProps) {
  const { m, date } = useI18n();
  const desk = useQuery<Desk>(api, DESK, { id: partnershipId }, version);
  if (desk.error && !desk.data) return <Failed message={desk.error} retry={desk.reload} />;
  const partnership = desk.data?.partnership;
  if (!partnership) return <p>{m.loading}</p>;
  const claims = partnership.claims?.nodes ?? [];
  const residents = partnership.participants?.nodes ?? [];
  return (
    <>
      <h2>{m.toVerify}</h2>
      {claims.length === 0 ? (
        <p id="no-claims">{m.nothingToVerify}</p>
      ) : (
        <table id="claims">
          <thead>
            <tr>
              <th>{m.pseudonym}</th>
              <th>{m.caseRef}</th>
              <th>{m.outcome}</th>
              <th>{m.achieved}</th>
              <th>{m.evidence}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {claims.map((claim) => (
              <ClaimRow key={claim.id} claim={claim} api={api} onDecided={desk.reload} />
            ))}
          </tbody>
        </table>
      )}
      <h2>
        {m.residents} ({residents.length})
      </h2>
      <table id="residents">
        <thead>
          <tr>
            <th>{m.pseudonym}</th>
            <th>{m.caseRef}</th>
            <th>{m.enrolled}</th>
            <th>{m.segment}</th>
            <th>{m.eligible}</th>
            <th>{m.exited}</th>
          </tr>
        </thead>
        <tbody>
          {residents.map((p) => (
            <tr key={p.id} data-pseudonym={p.pseudonym}>
              <td class="mono">{p.pseudonym.slice(0, 12)}</td>
              <td>{p.municipalReference ?? "–"}</td>
              <td>{date(p.enrolmentDate)}</td>
              <td>{p.segment ?? "–"}</td>
              <td>{p.eligibilityConfirmedAt ? m.yes : m.no}</td>
              <td>{date(p.exitDate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function ClaimRow({ claim, api, onDecided }: { claim: Claim; api: ViewProps["api"]; onDecided: () => void }) {
  const { m, date } = useI18n();
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // One key per claim and decision: a retry after a lost answer decides once.
  const [key] = useState(() => crypto.randomUUID());

  async function decide(decision: "VERIFIED" | "REJECTED") {
    setBusy(true);
    setError(undefined);
    try {
      const { verifyClaim } = await api.query<{ verifyClaim: Decided }>(DECIDE, {
        claim: claim.id,
        decision,
        reason: decision === "REJECTED" ? reason : null,
        version: claim.version,
        key: `${key}-${decision}`,
      });
      if ("code" in verifyClaim) setError(`${verifyClaim.code}: ${verifyClaim.message}`);
      else onDecided();
    } catch (failed) {
      setError((failed as Error).message);
    } finally {
      setBusy(false);
    }
  }

  const who = claim.participant;
  return (
    <tr data-claim={claim.id}>
      <td class="mono">{who?.pseudonym.slice(0, 12)}</td>
      <td>{who?.municipalReference ?? "–"}</td>
      <td>{claim.outcomeCode}</td>
      <td>{date(claim.achievementDate)}</td>
      <td>{claim.evidence.reference ?? "–"}</td>
      <td class="actions">
        {rejecting ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void decide("REJECTED");
            }}
          >
            <label>
              {m.reason} <input required value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
            </label>
            <button type="submit" disabled={busy}>
              {m.confirmReject}
            </button>
            <button type="button" onClick={() => setRejecting(false)}>
              {m.cancel}
            </button>
          </form>
        ) : (
          <>
            <button type="button" class="primary" disabled={busy} onClick={() => void decide("VERIFIED")}>
              {m.verify}
            </button>
            <button type="button" disabled={busy} onClick={() => setRejecting(true)}>
              {m.reject}
            </button>
          </>
        )}
        {error && <span role="alert">{error}</span>}
      </td>
    </tr>
  );
}
