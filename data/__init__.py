"""Built-in data: the demo county and the national tables (package data)."""
