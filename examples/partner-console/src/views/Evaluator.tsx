import type { ViewProps } from "../App";
import { Failed } from "../App";
import { useI18n } from "../i18n";
import RECORDS from "../operations/evaluator.graphql?raw";
import { useQuery } from "../query";

interface Records {
  partnership: {
    outcomeSummary: { enrolled: number; exited: number } | null;
    participants: {
      nodes: {
        pseudonym: string;
        municipalityCode: string;
        enrolmentDate: string;
        segment: string | null;
        cohort: string | null;
        exitDate: string | null;
        claims: { outcomeCode: string; achievementDate: string; status: "CLAIMED" | "VERIFIED" | "REJECTED" | "DISPUTED"; band: string | null }[];
      }[];
    } | null;
  } | null;
}

/** An evaluator: one row per pseudonymised participant with its outcomes (no evidence, no case number). */
export function Evaluator({ api, partnershipId, version }: ViewProps) {
  const { m, date, count } = useI18n();
  const read = useQuery<Records>(api, RECORDS, { id: partnershipId }, version);
  if (read.error && !read.data) return <Failed message={read.error} retry={read.reload} />;
  const partnership = read.data?.partnership;
  if (!partnership) return <p>{m.loading}</p>;
  const summary = partnership.outcomeSummary;
  const records = partnership.participants?.nodes ?? [];
  return (
    <>
      {summary && (
        <dl class="figures">
          <div>
            <dt>{m.enrolledCount}</dt>
            <dd>{count(summary.enrolled)}</dd>
          </div>
          <div>
            <dt>{m.exitedCount}</dt>
            <dd>{count(summary.exited)}</dd>
          </div>
        </dl>
      )}
      <h2>
        {m.records} ({records.length})
      </h2>
      <table id="records">
        <thead>
          <tr>
            <th>{m.pseudonym}</th>
            <th>{m.municipality}</th>
            <th>{m.enrolled}</th>
            <th>{m.segment}</th>
            <th>{m.exited}</th>
            <th>{m.outcomes}</th>
          </tr>
        </thead>
        <tbody>
          {records.map((p) => (
            <tr key={p.pseudonym} data-pseudonym={p.pseudonym}>
              <td class="mono">{p.pseudonym.slice(0, 12)}</td>
              <td>{p.municipalityCode}</td>
              <td>{date(p.enrolmentDate)}</td>
              <td>{p.segment ?? "–"}</td>
              <td>{date(p.exitDate)}</td>
              <td>
                {p.claims
                  .map((c) => `${c.outcomeCode}${c.band ? ` (${c.band})` : ""}: ${m.statusNames[c.status]}, ${date(c.achievementDate)}`)
                  .join("; ") || "–"}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
