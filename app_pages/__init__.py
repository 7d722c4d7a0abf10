"""Parts of the dashboard (app.py) too general to keep inline."""
