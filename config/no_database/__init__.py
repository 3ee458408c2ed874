"""The database backend when DATABASE_URL is not set: every use fails with how to start Dosewise."""
