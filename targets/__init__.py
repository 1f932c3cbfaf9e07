"""How an environment comes up and goes down: one interface, several backends (local, pulumi)."""
