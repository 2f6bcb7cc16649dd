"""Ending tokens before they expire: token epochs (bumped by the directory's changes), revoked token ids,
and the list the other processes poll to refuse both within seconds. Never decides who may change what:
the directory's rules call in here once they have."""
