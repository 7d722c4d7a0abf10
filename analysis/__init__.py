"""Turn travel times and need into answers: coverage, gaps, hotspots, access, plans, exports."""
