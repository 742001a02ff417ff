"""Pipeline layer: one module per step; pure array functions plus a per-sequence job."""
