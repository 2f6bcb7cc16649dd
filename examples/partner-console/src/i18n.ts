// Danish and English. Danish is the default, English when the browser prefers it; the header's button
// switches and remembers. Money and dates are formatted by Intl in the chosen language.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export type Lang = "da" | "en";

const da = {
  title: "Effekt partnerkonsol",
  signIn: "Log ind",
  signOut: "Log ud",
  signingIn: "Logger ind…",
  other: "English",
  loading: "Henter…",
  retry: "Prøv igen",
  live: "Live",
  offline: "Ikke live",
  ledgerIntact: "Hovedbog intakt",
  ledgerBroken: "Hovedbogen er brudt",
  noPartnership: "Din organisation er ikke med i et partnerskab endnu.",
  partnership: "Partnerskab",
  unsupported: "Konsollen har ingen visning for denne partnertype.",
  // municipality
  residents: "Borgere i programmet",
  toVerify: "Krav der venter på jeres godkendelse",
  nothingToVerify: "Ingen krav venter.",
  verify: "Godkend",
  reject: "Afvis",
  reason: "Begrundelse",
  confirmReject: "Afvis kravet",
  cancel: "Fortryd",
  decided: "Afgjort",
  // tables
  pseudonym: "Pseudonym",
  caseRef: "Sagsnr.",
  municipality: "Kommune",
  enrolled: "Indskrevet",
  segment: "Segment",
  eligible: "Berettiget",
  exited: "Udskrevet",
  outcome: "Resultat",
  achieved: "Opnået",
  evidence: "Dokumentation",
  status: "Status",
  band: "Trin",
  payable: "Beløb",
  yes: "ja",
  no: "nej",
  // provider
  participants: "Deltagere",
  claims: "Krav",
  // investor
  earned: "Optjent",
  pending: "Afventer godkendelse",
  claimsWaiting: (n: number) => `${n} krav`,
  fewClaims: (k: number) => `${k} krav eller færre`,
  withheld: "Tilbageholdt",
  shownOnly: "kun viste måneder",
  smallCells: (k: number) =>
    `Tal på ${k} eller færre tilbageholdes, med de beløb der ville afsløre dem (reglen om små tal).`,
  remainingCap: "Tilbage under loftet",
  contractCap: "Kontraktens loft",
  capUsed: "brugt af loftet",
  paymentsByPeriod: "Godkendte resultater pr. betalingsperiode",
  periodCap: "Loft pr. periode",
  quarter: "K",
  cumulative: "Akkumuleret",
  statements: "Betalingsopgørelser",
  period: "Periode",
  total: "I alt",
  noPerson: "Investorer ser kun tal: ingen deltagere, pseudonymer eller dokumentation.",
  // evaluator
  records: "Pseudonymiserede forløb",
  enrolledCount: "Indskrevne",
  exitedCount: "Udskrevne",
  outcomes: "Resultater",
  statusNames: { CLAIMED: "Anmeldt", VERIFIED: "Godkendt", REJECTED: "Afvist", DISPUTED: "Bestridt" },
  statementNames: { DRAFT: "Kladde", ISSUED: "Udstedt", PAID: "Betalt" },
};

type Messages = typeof da;

const en: Messages = {
  title: "Effekt partner console",
  signIn: "Sign in",
  signOut: "Sign out",
  signingIn: "Signing in…",
  other: "Dansk",
  loading: "Loading…",
  retry: "Try again",
  live: "Live",
  offline: "Not live",
  ledgerIntact: "Ledger intact",
  ledgerBroken: "Ledger broken",
  noPartnership: "Your organisation is not in a partnership yet.",
  partnership: "Partnership",
  unsupported: "The console has no view for this partner type.",
  residents: "Residents in the programme",
  toVerify: "Claims waiting for your verification",
  nothingToVerify: "No claims are waiting.",
  verify: "Verify",
  reject: "Reject",
  reason: "Reason",
  confirmReject: "Reject the claim",
  cancel: "Cancel",
  decided: "Decided",
  pseudonym: "Pseudonym",
  caseRef: "Case no.",
  municipality: "Municipality",
  enrolled: "Enrolled",
  segment: "Segment",
  eligible: "Eligible",
  exited: "Exited",
  outcome: "Outcome",
  achieved: "Achieved",
  evidence: "Evidence",
  status: "Status",
  band: "Band",
  payable: "Amount",
  yes: "yes",
  no: "no",
  participants: "Participants",
  claims: "Claims",
  earned: "Earned",
  pending: "Awaiting verification",
  claimsWaiting: (n: number) => (n === 1 ? "1 claim" : `${n} claims`),
  fewClaims: (k: number) => `${k} or fewer claims`,
  withheld: "Withheld",
  shownOnly: "shown months only",
  smallCells: (k: number) =>
    `Counts of ${k} or fewer are withheld, with the amounts that would reveal them (small-cell rule).`,
  remainingCap: "Remaining under the cap",
  contractCap: "Contract cap",
  capUsed: "of the cap used",
  paymentsByPeriod: "Verified outcomes by payment period",
  periodCap: "Cap per period",
  quarter: "Q",
  cumulative: "Cumulative",
  statements: "Payment statements",
  period: "Period",
  total: "Total",
  noPerson: "Investors see figures only: no participants, pseudonyms or evidence.",
  records: "Pseudonymised records",
  enrolledCount: "Enrolled",
  exitedCount: "Exited",
  outcomes: "Outcomes",
  statusNames: { CLAIMED: "Claimed", VERIFIED: "Verified", REJECTED: "Rejected", DISPUTED: "Disputed" },
  statementNames: { DRAFT: "Draft", ISSUED: "Issued", PAID: "Paid" },
};

const MESSAGES: Record<Lang, Messages> = { da, en };
const STORED = "effekt.console.lang";

export function initialLang(): Lang {
  const stored = localStorage.getItem(STORED);
  if (stored === "da" || stored === "en") return stored;
  const preferred = navigator.languages.find((l) => /^(da|en)\b/i.test(l));
  return preferred?.toLowerCase().startsWith("en") ? "en" : "da";
}

export function rememberLang(lang: Lang) {
  localStorage.setItem(STORED, lang);
  document.documentElement.lang = lang;
}

export interface I18n {
  lang: Lang;
  m: Messages;
  money: (amount: string | null | undefined, currency: string | null | undefined) => string;
  date: (iso: string | null | undefined) => string;
  count: (n: number) => string;
}

export function i18n(lang: Lang): I18n {
  const locale = lang === "da" ? "da-DK" : "en-GB";
  const number = new Intl.NumberFormat(locale);
  const dates = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" });
  return {
    lang,
    m: MESSAGES[lang],
    // Money arrives as a decimal string and is summed exactly (see money.ts); only shown rounded here.
    money: (amount, currency) =>
      amount == null
        ? "–"
        : new Intl.NumberFormat(locale, {
            style: currency ? "currency" : "decimal",
            currency: currency ?? undefined,
            minimumFractionDigits: 2,
            maximumFractionDigits: 2,
          }).format(Number(amount)),
    date: (iso) => (iso ? dates.format(new Date(iso)) : "–"),
    count: (n) => number.format(n),
  };
}

export const I18nContext = createContext<I18n>(i18n("da"));
export const useI18n = () => useContext(I18nContext);
