"""The small library every Effekt service and the gateway may import.

It owns the cross-cutting pieces: settings, database plumbing, problem responses, the access-token
contract (`Principal`), request ids, logging and health endpoints. It imports none of ours and holds no
partnership vocabulary beyond the token contract.
"""
