"""Web pages for people (`/ui/`): see fhirsvc/ui/pages.py."""
