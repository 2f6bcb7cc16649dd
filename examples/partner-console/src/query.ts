// One small hook for reads: run a query, re-run it when `version` moves (a live event) or on retry.
import { useEffect, useState } from "preact/hooks";

import type { Api } from "./api";

export interface Read<T> {
  data?: T;
  error?: string;
  reload: () => void;
}

export function useQuery<T>(api: Api, document: string, variables: Record<string, unknown>, version: number): Read<T> {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [tries, setTries] = useState(0);
  const key = JSON.stringify(variables);
  useEffect(() => {
    let current = true;
    api.query<T>(document, variables).then(
      (data) => current && setState({ data }),
      (error: Error) => current && setState((old) => ({ ...old, error: error.message })),
    );
    return () => {
      current = false;
    };
  }, [document, key, version, tries]);
  return { ...state, reload: () => setTries((n) => n + 1) };
}
