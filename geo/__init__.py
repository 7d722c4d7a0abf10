"""Turn users' files into clean British National Grid data and travel times."""
