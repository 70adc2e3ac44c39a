"""Operations across flows: replay of failed records, reconciliation, alerts."""
