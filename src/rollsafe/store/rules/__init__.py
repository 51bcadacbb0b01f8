"""The store's domain rules, once for every backend: plain functions over a `Transaction`.

Each module holds one concept's checks, writes, journal entries and error
messages; a backend only runs them inside its transactions (see
`rollsafe.store.transaction`).
"""
