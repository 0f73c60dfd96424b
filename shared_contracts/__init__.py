"""The published language between the monolith and its services: envelope, event types, schemas."""
