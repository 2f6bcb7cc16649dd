"""Acting on a running platform as its partners do, over HTTP only: sign-in, synthetic identifiers, the
standard terms document, a cast of actors and a disposable platform, written once for the demo seed, the
bench and the tests. It never imports a service or the gateway (`effekt` starts them by import string), and
nothing it makes is fit for production data: numbers are synthetic, passwords are known."""
