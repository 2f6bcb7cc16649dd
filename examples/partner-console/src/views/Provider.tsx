import type { ViewProps } from "../App";
import { Failed } from "../App";
import { useI18n } from "../i18n";
import CASELOAD from "../operations/provider.graphql?raw";
import { useQuery } from "../query";

interface Caseload {
  partnership: {
    participants: {
      nodes: {
        id: string;
        pseudonym: string;
        municipalityCode: string;
        enrolmentDate: string;
        segment: string | null;
        eligibilityConfirmedAt: string | null;
        exitDate: string | null;
      }[];
    } | null;
    claims: {
      nodes: {
        id: string;
        outcomeCode: string;
        achievementDate: string;
        status: "CLAIMED" | "VERIFIED" | "REJECTED" | "DISPUTED";
        band: string | null;
        payable: string | null;
        currency: string | null;
        participant: { pseudonym: string } | null;
      }[];
    } | null;
  } | null;
}

/** A provider: every participant it enrolled and every claim it made, with each claim's state and price. */
export function Provider({ api, partnershipId, version }: ViewProps) {
  const { m, date, money } = useI18n();
  const read = useQuery<Caseload>(api, CASELOAD, { id: partnershipId }, version);
  if (read.error && !read.data) return <Failed message={read.error} retry={read.reload} />;
  const partnership = read.data?.partnership;
  if (!partnership) return <p>{m.loading}</p>;
  const participants = partnership.participants?.nodes ?? [];
  const claims = partnership.claims?.nodes ?? [];
  return (
    <>
      <h2>
        {m.claims} ({claims.length})
      </h2>
      <table id="claims">
        <thead>
          <tr>
            <th>{m.pseudonym}</th>
            <th>{m.outcome}</th>
            <th>{m.achieved}</th>
            <th>{m.band}</th>
            <th>{m.status}</th>
            <th class="num">{m.payable}</th>
          </tr>
        </thead>
        <tbody>
          {claims.map((c) => (
            <tr key={c.id} data-claim={c.id}>
              <td class="mono">{c.participant?.pseudonym.slice(0, 12)}</td>
              <td>{c.outcomeCode}</td>
              <td>{date(c.achievementDate)}</td>
              <td>{c.band ?? "–"}</td>
              <td data-status={c.status}>{m.statusNames[c.status]}</td>
              <td class="num">{money(c.payable, c.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>
        {m.participants} ({participants.length})
      </h2>
      <table id="participants">
        <thead>
          <tr>
            <th>{m.pseudonym}</th>
            <th>{m.municipality}</th>
            <th>{m.enrolled}</th>
            <th>{m.segment}</th>
            <th>{m.eligible}</th>
            <th>{m.exited}</th>
          </tr>
        </thead>
        <tbody>
          {participants.map((p) => (
            <tr key={p.id} data-pseudonym={p.pseudonym}>
              <td class="mono">{p.pseudonym.slice(0, 12)}</td>
              <td>{p.municipalityCode}</td>
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
