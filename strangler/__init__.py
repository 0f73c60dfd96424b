"""Reusable strangler-fig machinery: outbox, relay, inbox, sync commands and the gateway."""
