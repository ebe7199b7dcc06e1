"""Channel stock publishing: every channel is told what it may sell, within seconds."""
