"""Each rail's own records, normalised into reconciliation's :class:`RailRecord` (pure functions).

One module per rail: ``sandbox`` (the sandbox provider's transfer list), ``adyen`` (Transfers API
v4 ``GET /transactions`` items), ``stripe`` (balance transactions, transfers, payouts) and
``bank_statement`` (a camt.053's entries). Each takes the rail's JSON (or the parsed statement) as
the rail returns it, and refuses what does not have the shape it documents (ValueError), rather
than guess.
"""
