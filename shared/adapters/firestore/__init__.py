"""The Firestore adapter: the storage port of the use cases (``store.FirestoreStore``), the
document shapes (``documents``) and the counted calls to the client (``calls``)."""

from shared.adapters.firestore.store import FirestoreStore, FirestoreUnitOfWork, UnknownDocument

__all__ = ["FirestoreStore", "FirestoreUnitOfWork", "UnknownDocument"]
