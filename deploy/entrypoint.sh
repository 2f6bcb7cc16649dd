#!/bin/sh
# The image's entry point: one Effekt process per container.
#   identity | contracts | outcomes | gateway   serve it with uvicorn on $PORT (default 8000)
#   migrate [identity|contracts|outcomes|all]   upgrade that service's database to head, then exit
# Uvicorn finishes in-flight requests for up to $GRACEFUL_SHUTDOWN_SECONDS after SIGTERM; keep the
# orchestrator's grace period (Kubernetes terminationGracePeriodSeconds) above it. Keep-alive outlives
# the proxies' idle timeouts (ingress-nginx 60 s, the gateway's pool 30 s) so they never reuse a closed socket.
set -eu

serve() {
    exec uvicorn "$1" --factory \
        --host 0.0.0.0 --port "${PORT:-8000}" \
        --no-access-log \
        --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
        --timeout-graceful-shutdown "${GRACEFUL_SHUTDOWN_SECONDS:-20}" \
        --timeout-keep-alive "${KEEP_ALIVE_SECONDS:-75}"
}

command="${1:-}"
[ "$#" -gt 0 ] && shift
case "$command" in
    identity) serve services.identity.app:create_app ;;
    contracts) serve services.contracts.app:create_app ;;
    outcomes) serve services.outcomes.app:create_app ;;
    gateway) serve gateway.app:create_app ;;
    migrate) exec effekt migrate "$@" ;;
    *)
        echo "usage: effekt-entrypoint identity|contracts|outcomes|gateway|migrate [service]" >&2
        exit 64
        ;;
esac
