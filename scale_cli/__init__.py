"""`scale`: a command-line client for the Scale REST API (SCALE_API_URL, SCALE_API_TOKEN)."""
