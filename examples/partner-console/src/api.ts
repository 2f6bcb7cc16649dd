// The gateway, two ways: queries and mutations with fetch, and ledger events over graphql-transport-ws
// (the graphql-ws client). Both send the signed-in user's token; the gateway picks the partner type's
// schema from it, so a field the policy withholds is not even in the caller's schema.
import { createClient, type Client } from "graphql-ws";

import type { Auth } from "./auth";
import LEDGER from "./operations/ledger.graphql?raw";

export class GraphQLError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(
    private readonly auth: Auth,
    private readonly gateway: string,
  ) {}

  async query<T>(document: string, variables: Record<string, unknown> = {}): Promise<T> {
    const token = await this.auth.accessToken();
    if (!token) throw new GraphQLError("signed out", "unauthenticated");
    const response = await fetch(`${this.gateway}/graphql`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
      },
      body: JSON.stringify({ query: document, variables }),
    });
    const body = await response.json();
    // A field error (a service down, say) leaves the rest of `data`: show what there is.
    if (!body.data) {
      const error = body.errors?.[0];
      throw new GraphQLError(error?.message ?? body.detail ?? response.statusText, error?.extensions?.code);
    }
    return body.data as T;
  }

  /**
   * Call `onEvent` for each ledger event of the partnership after `afterSequence`, until the returned
   * function is called. An ended stream (an expired token ends it) reconnects with a fresh token from the
   * last sequence seen, so no event is missed or repeated.
   */
  live(
    partnershipId: string,
    afterSequence: number,
    onEvent: (event: { sequence: number; type: string }) => void,
    onStatus: (connected: boolean) => void,
  ): () => void {
    let after = afterSequence;
    let client: Client | undefined;
    let stopped = false;
    const wsUrl = `${this.gateway.replace(/^http/, "ws")}/graphql`;
    const connect = () => {
      if (stopped) return;
      client = createClient({
        url: wsUrl,
        // graphql-transport-ws: the token goes in connection_init, never in the URL.
        connectionParams: async () => ({ Authorization: `Bearer ${await this.auth.accessToken()}` }),
        retryAttempts: 0,
        on: { connected: () => onStatus(true), closed: () => onStatus(false) },
      });
      client.subscribe<{ ledgerEvents: { sequence: number; type: string } }>(
        { query: LEDGER, variables: { id: partnershipId, after } },
        {
          next: ({ data }) => {
            if (!data) return;
            after = data.ledgerEvents.sequence;
            onEvent(data.ledgerEvents);
          },
          error: () => restart(),
          complete: () => restart(),
        },
      );
    };
    const restart = () => {
      onStatus(false);
      void client?.dispose();
      if (!stopped) setTimeout(connect, 1000);
    };
    connect();
    return () => {
      stopped = true;
      void client?.dispose();
    };
  }
}
