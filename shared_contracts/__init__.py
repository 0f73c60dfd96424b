"""The shop's published language: event declarations, schemas, upcasters, released versions.

Plain data and functions, registered with strangler-kit by `STRANGLER_CONTRACTS["PACKAGES"]`
exactly as a team registers its own contract package. It imports nothing of the kit.
"""

from shared_contracts.events import EVENTS
from shared_contracts.upcasters import UPCASTERS

__all__ = ["EVENTS", "UPCASTERS"]
