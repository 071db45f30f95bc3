"""The local runtime: the stack launcher, the Cloud Tasks emulator wrapper, the Pub/Sub push
relay, the local OIDC issuer and secrets, and a client of the running stack."""
