"""Reports for operations staff: orders per channel and returns per SKU and reason."""
