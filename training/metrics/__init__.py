"""Sample-quality metrics: one module per metric."""
