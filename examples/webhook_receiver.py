"""A webhook receiver that verifies Effekt's Standard Webhooks signatures, with the `standardwebhooks`
package (pip install standardwebhooks aiohttp).

    EFFEKT_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py 8080

Rules every receiver should follow, and this one does:
- verify the signature over the *raw* body before parsing it (`Webhook.verify` also refuses timestamps
  more than five minutes off, which stops replays);
- answer 2xx quickly, and only after the event is safely stored: any other answer, or none within ten
  seconds, is retried with backoff for 25 hours, after which the subscription is disabled;
- deduplicate on `webhook-id`: delivery is at least once (a retry after a lost answer, a redelivery you
  asked for), and the id is the same on every attempt;
- events of one partnership can arrive out of order after retries: order them by `sequence`, or use the
  pull feed when you need a strict order.
"""

from __future__ import annotations

import os
import sys

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

seen: set[str] = set()  # use your database in production


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        event = Webhook(os.environ["EFFEKT_WEBHOOK_SECRET"]).verify(body, dict(request.headers))
    except WebhookVerificationError:
        return web.Response(status=400, text="bad signature")
    delivery = request.headers["webhook-id"]
    if delivery not in seen:
        seen.add(delivery)
        print(f"{event['partnershipid']} #{int(event['sequence'])} {event['type']}")
    return web.Response(status=204)


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/effekt-webhook", receive)
    web.run_app(app, port=int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
