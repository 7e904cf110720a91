"""Framework-independent runtime support for training generated networks."""
