import type { ViewProps } from "../App";
import { Failed } from "../App";
import { useI18n } from "../i18n";
import { fromMilli, toMilli } from "../money";
import MONEY from "../operations/investor.graphql?raw";
import { useQuery } from "../query";

// Counts of `smallCellThreshold` or fewer, and the amounts that would give them back, come null (the
// small-cell rule); `suppressed` names which, so a withheld remaining cap is not read as "no cap".
interface Totals {
  contractId: string;
  currency: string | null;
  earned: string | null;
  pendingClaims: number | null;
  pendingValue: string | null;
  contractCap: string | null;
  remainingCap: string | null;
  suppressed: string[];
}

interface Month {
  outcomeCode: string;
  month: string;
  verified: number | null;
  value: string | null;
  suppressed: string[];
}

interface Money {
  partnership: {
    contract: { title: string; activeVersion: { currency: string | null; terms: Terms } | null } | null;
    outcomeSummary: {
      smallCellThreshold: number | null;
      enrolled: number | null;
      exited: number | null;
      verifiedOutcomes: Month[];
      contracts: Totals[];
    } | null;
    statements: { id: string; periodStart: string; periodEnd: string; status: "DRAFT" | "ISSUED" | "PAID"; total: string | null; currency: string }[] | null;
  } | null;
}

interface Terms {
  start_date?: string;
  payment_period?: "monthly" | "quarterly";
  caps?: { per_period?: string | null; contract_total?: string | null };
}

/** An investor: what the contract has earned, what waits for verification, what is left under the cap,
 * and verified value by payment period against the caps. Aggregates only: the investor's schema has no
 * person in it, so neither has this page. */
export function Investor({ api, partnershipId, version }: ViewProps) {
  const { m, money, date } = useI18n();
  const read = useQuery<Money>(api, MONEY, { id: partnershipId }, version);
  if (read.error && !read.data) return <Failed message={read.error} retry={read.reload} />;
  const partnership = read.data?.partnership;
  if (!partnership) return <p>{m.loading}</p>;
  const summary = partnership.outcomeSummary;
  const terms = partnership.contract?.activeVersion?.terms ?? {};
  const totals = summary?.contracts[0];
  const currency = totals?.currency ?? partnership.contract?.activeVersion?.currency ?? null;
  const k = summary?.smallCellThreshold ?? null;
  const withheld = (what: string | null, shown: string) =>
    what === null && k !== null ? <span class="withheld">{m.withheld}</span> : shown;
  return (
    <>
      {partnership.contract && <p class="contract">{partnership.contract.title}</p>}
      {totals && (
        <dl class="figures" id="money">
          <div>
            <dt>{m.earned}</dt>
            <dd id="earned">{withheld(totals.earned, money(totals.earned, currency))}</dd>
          </div>
          <div>
            <dt>{m.pending}</dt>
            <dd id="pending">
              {totals.pendingClaims === null && k !== null ? (
                <span class="withheld">{m.fewClaims(k)}</span>
              ) : (
                <>
                  {money(totals.pendingValue, currency)} <small>({m.claimsWaiting(totals.pendingClaims ?? 0)})</small>
                </>
              )}
            </dd>
          </div>
          <div>
            <dt>{m.remainingCap}</dt>
            <dd id="remaining">
              {totals.suppressed.includes("remainingCap") ? (
                <span class="withheld">{m.withheld}</span>
              ) : (
                money(totals.remainingCap, currency)
              )}
            </dd>
          </div>
          <div>
            <dt>{m.contractCap}</dt>
            <dd>
              {money(totals.contractCap, currency)}
              {totals.contractCap && totals.earned !== null && (
                <CapUsed earned={totals.earned} cap={totals.contractCap} label={m.capUsed} />
              )}
            </dd>
          </div>
        </dl>
      )}
      {summary && (
        <>
          <h2>{m.paymentsByPeriod}</h2>
          <PaymentsChart months={summary.verifiedOutcomes} terms={terms} currency={currency} />
        </>
      )}
      <h2>{m.statements}</h2>
      <table id="statements">
        <thead>
          <tr>
            <th>{m.period}</th>
            <th>{m.status}</th>
            <th class="num">{m.total}</th>
          </tr>
        </thead>
        <tbody>
          {(partnership.statements ?? []).map((s) => (
            <tr key={s.id}>
              <td>
                {date(s.periodStart)} – {date(s.periodEnd)}
              </td>
              <td>{m.statementNames[s.status]}</td>
              <td class="num">{withheld(s.total, money(s.total, s.currency))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {k !== null && (
        <p class="note" id="small-cells">
          {m.smallCells(k)}
        </p>
      )}
      <p class="note">{m.noPerson}</p>
    </>
  );
}

function CapUsed({ earned, cap, label }: { earned: string; cap: string; label: string }) {
  const capMilli = toMilli(cap);
  const share = capMilli > 0n ? Number((toMilli(earned) * 10000n) / capMilli) / 100 : 0;
  return (
    <>
      <meter min={0} max={100} value={share} aria-label={label} />
      <small>
        {" "}
        {share.toFixed(1)} % {label}
      </small>
    </>
  );
}

/** Verified value per payment period (by achievement month), as bars, with the cumulative value as a line;
 * the per-period cap as a dashed line when the terms set one. Plain SVG: no chart library needed. */
function PaymentsChart({
  months,
  terms,
  currency,
}: {
  months: { month: string; value: string | null }[];
  terms: Terms;
  currency: string | null;
}) {
  const { m, money } = useI18n();
  const quarterly = terms.payment_period !== "monthly";
  const periodOf = (year: number, month: number) =>
    quarterly ? `${year} ${m.quarter}${Math.ceil(month / 3)}` : `${year}-${String(month).padStart(2, "0")}`;
  // Every period from the contract's start to today, so an empty one shows as empty.
  const byPeriod = new Map<string, bigint>();
  const partial = new Set<string>(); // periods holding a withheld month: their bar is what is shown
  const start = new Date(terms.start_date ?? months.map((x) => `${x.month}-01`).sort()[0] ?? Date.now());
  for (let d = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1)); d <= new Date(); d.setUTCMonth(d.getUTCMonth() + 1)) {
    byPeriod.set(periodOf(d.getUTCFullYear(), d.getUTCMonth() + 1), 0n);
  }
  for (const { month, value } of months) {
    const [year, mm] = month.split("-").map(Number);
    const period = periodOf(year, mm);
    if (value === null) partial.add(period);
    byPeriod.set(period, (byPeriod.get(period) ?? 0n) + (value === null ? 0n : toMilli(value)));
  }
  const periods = [...byPeriod.entries()].sort(([a], [b]) => a.localeCompare(b));
  let running = 0n;
  const rows = periods.map(([period, value]) => ({ period, value, cumulative: (running += value) }));
  const perPeriodCap = terms.caps?.per_period ? toMilli(terms.caps.per_period) : null;
  const top = [running, perPeriodCap ?? 0n].reduce((a, b) => (a > b ? a : b), 1n);
  const width = 640;
  const height = 220;
  const pad = { left: 8, right: 8, top: 12, bottom: 28 };
  const slot = (width - pad.left - pad.right) / Math.max(rows.length, 1);
  const y = (v: bigint) => pad.top + (height - pad.top - pad.bottom) * (1 - Number((v * 10000n) / top) / 10000);
  const line = rows.map((r, i) => `${pad.left + slot * (i + 0.5)},${y(r.cumulative)}`).join(" ");
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={m.paymentsByPeriod}>
        {rows.map((r, i) => (
          <g key={r.period}>
            <rect
              class={partial.has(r.period) ? "bar partial" : "bar"}
              x={pad.left + slot * (i + 0.5) - Math.min(slot * 0.3, 28)}
              width={Math.min(slot * 0.6, 56)}
              y={y(r.value)}
              height={y(0n) - y(r.value)}
            >
              <title>{`${r.period}: ${money(fromMilli(r.value), currency)}${partial.has(r.period) ? ` (${m.shownOnly})` : ""}`}</title>
            </rect>
            <text x={pad.left + slot * (i + 0.5)} y={height - 8} text-anchor="middle">
              {r.period}
            </text>
          </g>
        ))}
        <polyline class="cumulative" points={line} />
        {perPeriodCap !== null && (
          <line class="cap" x1={pad.left} x2={width - pad.right} y1={y(perPeriodCap)} y2={y(perPeriodCap)} />
        )}
      </svg>
      <figcaption>
        <span class="key bar" />         {m.paymentsByPeriod} · <span class="key cumulative" /> {m.cumulative} <span id="cumulative">{money(fromMilli(running), currency)}</span>
        {partial.size > 0 && ` (${m.shownOnly})`}
        {perPeriodCap !== null && (
          <>
            {" "}
            · <span class="key cap" /> {m.periodCap} {money(terms.caps?.per_period, currency)}
          </>
        )}
      </figcaption>
    </figure>
  );
}
