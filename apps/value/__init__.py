"""Value metrics (contract §3.12): what an agent's work is worth to the customer, computed from signals."""
